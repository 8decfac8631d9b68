//! Argument parsing and the two subcommands.

use crate::{exit, haproxy_check, output, report};
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the options are invalid (each error names its option), or the input is not JSON
  2  usage error
  3  input or output error (reading the input, writing files)
  4  `haproxy -c -dW` rejected the generated config (--haproxy-check)";

// Every `haproxy-k8s-gen` line below is run by tests/cli.rs (`help_examples_work`; a
// `--haproxy PATH` there is replaced by each HAProxy the tests use).
const GENERATE_HELP: &str = "\
Examples:
  haproxy-k8s-gen generate examples/seed-004.json
  haproxy-k8s-gen generate options.json --out-dir out --haproxy-check
  haproxy-k8s-gen generate --haproxy-check --haproxy /opt/haproxy-3.2/sbin/haproxy < options.json
  echo '{\"controlPlaneNodes\": [{\"name\": \"cp1\", \"address\": \"10.0.0.10\"}]}' | haproxy-k8s-gen generate

Without --out-dir, only haproxy.cfg is written, to standard output.
With --out-dir, the four files are written all-or-nothing: on any error none is created or replaced.
The input is the NixOS option set as JSON (docs/input-contract.md).";

const CHECK_HELP: &str = "\
Examples:
  haproxy-k8s-gen check examples/seed-004.json
  haproxy-k8s-gen check --option-prefix services.haproxy-k8s < options.json";

#[derive(Debug, Parser)]
#[command(
    name = "haproxy-k8s-gen",
    version,
    about = "Generate a validated haproxy.cfg and firewall rules for a Kubernetes control-plane load balancer",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the options and write haproxy.cfg, firewall.json, firewall.nft and firewall.iptables (and keepalived.conf with a `vip`).
    #[command(after_help = GENERATE_HELP)]
    Generate {
        #[command(flatten)]
        common: Common,
        /// Directory for the output files (created if missing).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Run `haproxy -c -dW` on the generated config before anything is written.
        #[arg(long)]
        haproxy_check: bool,
        /// The HAProxy binary for --haproxy-check (a bare name is looked up on PATH).
        #[arg(
            long,
            value_name = "PATH",
            default_value = "haproxy",
            requires = "haproxy_check"
        )]
        haproxy: PathBuf,
    },
    /// Validate the options only; print nothing on success.
    #[command(after_help = CHECK_HELP)]
    Check {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The option set as JSON; standard input when absent or `-`.
    #[arg(value_name = "FILE")]
    file: Option<String>,
    /// The same as FILE (kept for scripts written for earlier versions).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    input: Option<String>,
    /// Put in front of every option path in messages (the NixOS module passes `services.haproxy-k8s`).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    option_prefix: String,
}

impl Common {
    /// `None`: standard input.
    fn file(&self) -> Option<&str> {
        self.file
            .as_deref()
            .or(self.input.as_deref())
            .filter(|name| *name != "-")
    }
}

/// Runs the command line and returns the process exit code.
pub fn run() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    match cli.command {
        Command::Check { common } => match load(&common) {
            Ok(_) => exit::OK,
            Err(code) => code,
        },
        Command::Generate {
            common,
            out_dir,
            haproxy_check,
            haproxy,
        } => {
            let plan = match load(&common) {
                Ok(plan) => plan,
                Err(code) => return code,
            };
            if haproxy_check {
                if let Err(code) = haproxy_check::check(&plan, &haproxy) {
                    return code;
                }
            }
            let outputs = haproxy_k8s::render(&plan);
            match out_dir {
                None => output::print_config(&outputs),
                Some(dir) => output::write_all(&dir, &outputs),
            }
        }
    }
}

/// Reads and validates; errors are printed here.
fn load(common: &Common) -> Result<haproxy_k8s::Plan, u8> {
    let file = common.file();
    let source = file.unwrap_or("<stdin>");
    let text = read_input(file).map_err(|error| {
        eprintln!("haproxy-k8s-gen: cannot read {source}: {error}");
        exit::IO
    })?;
    let plan = haproxy_k8s::plan(&text, &common.option_prefix).map_err(|errors| {
        eprint!("{}", report::errors(source, &errors));
        exit::INVALID_OPTIONS
    })?;
    for warning in plan.warnings() {
        eprintln!("haproxy-k8s-gen: warning: {warning}");
    }
    Ok(plan)
}

fn read_input(file: Option<&str>) -> std::io::Result<String> {
    match file {
        Some(path) => std::fs::read_to_string(path),
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                // Otherwise a bare `haproxy-k8s-gen generate` just seems to hang.
                eprintln!("haproxy-k8s-gen: reading the options (JSON) from standard input; end with Ctrl-D");
            }
            let mut text = String::new();
            stdin.lock().read_to_string(&mut text)?;
            Ok(text)
        }
    }
}
