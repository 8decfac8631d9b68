//! Argument parsing and the two subcommands.

use crate::{exit, haproxy_check, output};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the options are invalid (each error names its option)
  2  usage error
  3  input or output error (reading the input, writing files)
  4  `haproxy -c -dW` rejected the generated config (--haproxy-check)";

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
    /// Validate the options and write haproxy.cfg, firewall.json, firewall.nft and firewall.iptables.
    #[command(after_help = "\
Examples:
  haproxy-k8s-gen generate --input examples/seed-004.json
  haproxy-k8s-gen generate --input options.json --out-dir /etc/haproxy-k8s --haproxy-check
  nix eval --json .#options | haproxy-k8s-gen generate --input - --out-dir out

Without --out-dir, only haproxy.cfg is written, to standard output.
With --out-dir, the four files are written atomically: on any error none is created or replaced.")]
    Generate {
        #[command(flatten)]
        common: Common,
        /// Directory for the output files (created if missing).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Run `haproxy -c -dW` on the generated config (haproxy must be on PATH).
        #[arg(long)]
        haproxy_check: bool,
    },
    /// Validate the options only; print nothing on success.
    #[command(after_help = "\
Example:
  haproxy-k8s-gen check --input examples/seed-004.json --option-prefix services.haproxy-k8s")]
    Check {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The option set as JSON; `-` reads standard input.
    #[arg(long, value_name = "FILE|-")]
    input: String,
    /// Put in front of every option path in messages (the NixOS module passes `services.haproxy-k8s`).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    option_prefix: String,
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
        } => {
            let plan = match load(&common) {
                Ok(plan) => plan,
                Err(code) => return code,
            };
            if haproxy_check {
                if let Err(code) = haproxy_check::check(&plan) {
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
    let text = read_input(&common.input).map_err(|error| {
        eprintln!("haproxy-k8s-gen: cannot read {}: {error}", common.input);
        exit::IO
    })?;
    let plan = haproxy_k8s::plan(&text, &common.option_prefix).map_err(|errors| {
        let count = errors.0.len();
        eprintln!(
            "haproxy-k8s-gen: {} invalid option{}:",
            count,
            if count == 1 { "" } else { "s" }
        );
        for error in &errors.0 {
            eprintln!("  {error}");
        }
        exit::INVALID_OPTIONS
    })?;
    for warning in plan.warnings() {
        eprintln!("haproxy-k8s-gen: warning: {warning}");
    }
    Ok(plan)
}

fn read_input(source: &str) -> std::io::Result<String> {
    if source == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(Path::new(source))
    }
}
