//! The check every snapshot and property test relies on runs both HAProxy versions and says
//! which one complained.

mod common;

use common::{example, haproxy_rejects};

#[test]
fn haproxy_rejects_runs_2_6_and_3_0_and_names_the_one_that_complains() {
    let config = haproxy_k8s::generate(&example("seed-004.json"), "")
        .unwrap()
        .haproxy_cfg;
    assert_eq!(haproxy_rejects(&config), None);
    // HAProxy's own version conditions make a config that only one of them refuses.
    let refused_by = |condition: &str| {
        haproxy_rejects(&format!(
            "{config}.if {condition}\n    .alert \"refused under {condition}\"\n.endif\n"
        ))
    };
    let complaint = refused_by("version_atleast(2.7)").expect("3.0 must refuse it");
    assert!(
        complaint.starts_with("haproxy-3.0 -c -dW: ")
            && complaint.contains("refused under version_atleast(2.7)")
            && !complaint.contains("haproxy -c -dW"),
        "{complaint}"
    );
    let complaint = refused_by("version_before(2.7)").expect("2.6 must refuse it");
    assert!(
        complaint.starts_with("haproxy -c -dW: ") && !complaint.contains("haproxy-3.0"),
        "{complaint}"
    );
}
