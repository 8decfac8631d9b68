//! The validated workload part of a plan: backends beside the API and the SNI routes that
//! lead to them.

use super::{Duration, NodePlan};

#[derive(Debug, Clone)]
pub(crate) struct BackendPlan {
    /// `[A-Za-z0-9_-]`, so `k8s-backend.<name>` never collides with another proxy.
    pub(crate) name: String,
    pub(crate) nodes: Vec<NodePlan>,
    pub(crate) balance: &'static str,
    pub(crate) check: BackendCheck,
    pub(crate) interval: Duration,
    pub(crate) fall: u32,
    pub(crate) rise: u32,
    pub(crate) sticky: Sticky,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BackendCheck {
    Tcp,
    Tls,
    Http {
        /// `https`: the check connection speaks TLS (`verify none`: workloads' certificates
        /// are for their clients, not for us).
        tls: bool,
        path: String,
        /// None: HAProxy's default, any 2xx or 3xx.
        expect_status: Option<u16>,
        /// Host header (and SNI with `tls`), lower case `[a-z0-9.-]`.
        host: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sticky {
    None,
    /// A stick table keyed on the client address.
    Source,
}

/// One host of an SNI route. Names are lower case `[a-z0-9.-]` without a final dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HostPattern {
    Exact(String),
    /// `*.<suffix>`: exactly one label in front of the suffix (Kubernetes Ingress semantics).
    Wildcard {
        suffix: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct SniRoutePlan {
    pub(crate) host: HostPattern,
    /// Name of a [`BackendPlan`] of the same plan.
    pub(crate) backend: String,
}
