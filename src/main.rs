//! The `stickwire` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use stickwire::control::config::Config;
use stickwire::reenact::vipmap::{VipMap, VipMapping};
use stickwire::reenact::{self, report::Report};
use stickwire::replay::{replay, PortFiles};
use stickwire::runtime::run::{Clock, RunOptions};

#[derive(Parser)]
#[command(name = "stickwire", version, about = "A session-affinity switch on DPDK")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run on the DPDK ports until SIGINT or SIGTERM, then print the counters.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Record what each port receives to DIR/<port>-in.pcap, stamped with the switch's
        /// own clock, so that `replay` of those captures repeats the run (one worker only).
        #[arg(long, value_name = "DIR")]
        record_rx: Option<PathBuf>,
        /// The worker's clock: `monotonic` (the machine's), or `capture` (each frame's
        /// receive timestamp, as net_pcap gives a capture's: the run then goes as `replay`
        /// goes; one worker only).
        #[arg(long, value_enum, default_value = "monotonic")]
        clock: ClockArg,
        /// EAL arguments, after those in the config's [dpdk] eal_args.
        #[arg(last = true)]
        eal_args: Vec<String>,
    },
    /// Push captures through the engine, the captures' timestamps as the clock.
    Replay {
        #[arg(long)]
        config: PathBuf,
        /// Capture received on the first port (one-armed).
        #[arg(long = "in")]
        input: Option<PathBuf>,
        /// Where to record what the first port sends.
        #[arg(long = "out")]
        output: Option<PathBuf>,
        /// NAME=IN.pcap:OUT.pcap for a named port (either side may be empty); repeatable.
        #[arg(long = "port", value_parser = parse_port_files)]
        ports: Vec<PortFiles>,
    },
    /// Play a capture taken at a client or a server through the switch: which server each
    /// connection went to and why, and whether every byte arrived. Exits 1 if a conversation
    /// the capture lets judge is not intact. `--diff A.json B.json` compares two reports.
    Reenact {
        #[arg(long, required_unless_present = "diff")]
        config: Option<PathBuf>,
        /// The capture (pcap or pcapng: Ethernet, Linux cooked SLL/SLL2, raw IP).
        #[arg(long, required_unless_present = "diff")]
        capture: Option<PathBuf>,
        /// ORIG:PORT=VIP:PORT, or *:PORT=VIP:PORT for every server on that port: the VIP port
        /// that stands for the capture's server; repeatable.
        #[arg(long = "vip-map", value_name = "ORIG=VIP")]
        vip_map: Vec<VipMapping>,
        /// Where to write the report (JSON).
        #[arg(long, required_unless_present = "diff")]
        report: Option<PathBuf>,
        /// Also write the re-enacted traffic, both sides, as pcapng (an interface per port).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Leave out the capture's pauses (the switch's clock then only moves for its own
        /// deadlines).
        #[arg(long)]
        fast: bool,
        /// Compare two reports: the connections whose server or verdict changed.
        #[arg(long, num_args = 2, value_names = ["A.json", "B.json"], conflicts_with_all = ["config", "capture", "report", "out", "fast", "vip_map"])]
        diff: Option<Vec<PathBuf>>,
    },
    /// Validate a config and print what it says.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Send one command to a running switch's admin API (`help` lists them).
    Admin {
        /// The admin API's address (the config's `[admin] listen`).
        #[arg(long, default_value = "127.0.0.1:9900")]
        addr: std::net::SocketAddr,
        /// The admin API's Unix socket (the config's `[admin] socket`); used instead of
        /// `--addr` when given.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// The command, e.g. `set server rs2 state down` or `show servers`.
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Measure the data path (see BENCHMARKS.md).
    Bench {
        /// Shorter runs, for CI.
        #[arg(long)]
        quick: bool,
        /// Also write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Worker counts for the multi-core scenarios (l4-established-1m, l4-new), each
        /// beside its one-worker figure of the same run.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        workers: Vec<usize>,
        /// Where the SVG report is drawn.
        #[arg(long, default_value = "target/bench-report")]
        report_dir: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ClockArg {
    Monotonic,
    Capture,
}

fn parse_port_files(s: &str) -> Result<PortFiles, String> {
    let (port, files) = s.split_once('=').ok_or("expected NAME=IN.pcap:OUT.pcap")?;
    let (input, output) = files.split_once(':').ok_or("expected NAME=IN.pcap:OUT.pcap")?;
    let path = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
    Ok(PortFiles { port: port.to_string(), input: path(input), output: path(output) })
}

/// Re-enacts, writes the report, prints its short form; exit 1 if a judged conversation is
/// not intact, 2 if nothing could be re-enacted.
fn run_reenact(config: &Config, path: &Path, options: &reenact::Options, out: &Path) -> Result<(), ExitCode> {
    let report = reenact::reenact(config, path, options).map_err(|e| {
        eprintln!("stickwire: reenact: {e}");
        ExitCode::from(2)
    })?;
    report.write_json(out).map_err(|e| {
        eprintln!("stickwire: reenact: {}: {e}", out.display());
        ExitCode::from(2)
    })?;
    println!("{report}");
    if report.summary.all_intact() {
        Ok(())
    } else {
        Err(ExitCode::FAILURE)
    }
}

/// Compares two reports; exit 1 if a connection changed.
fn reenact_diff(paths: &[PathBuf]) -> Result<(), ExitCode> {
    let read = |p: &PathBuf| {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        Report::from_json(&text).map_err(|e| format!("{}: not a reenact report: {e}", p.display()))
    };
    let (a, b) = match (read(&paths[0]), read(&paths[1])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("stickwire: reenact --diff: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let diff = reenact::diff::diff(&a, &b);
    println!("{diff}");
    if diff.changes.is_empty() {
        Ok(())
    } else {
        Err(ExitCode::FAILURE)
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("stickwire: config error: {e}");
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => load(&config).map(|c| print!("{}", c.describe())),
        Command::Replay { config, input, output, mut ports } => load(&config).and_then(|config| {
            if input.is_some() || output.is_some() {
                let first = config.ports[0].name.get_ref().clone();
                ports.retain(|p| p.port != first);
                ports.insert(0, PortFiles { port: first, input, output });
            }
            match replay(&config, &ports) {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(e) => {
                    eprintln!("stickwire: replay: {e}");
                    Err(ExitCode::FAILURE)
                }
            }
        }),
        Command::Run { config, record_rx, clock, eal_args } => load(&config).and_then(|parsed| {
            let (config_path, config) = (config, parsed);
            let clock = match clock {
                ClockArg::Monotonic => Clock::Monotonic,
                ClockArg::Capture => Clock::Capture,
            };
            let options = RunOptions { eal_args, record_rx, clock, config_path: Some(config_path) };
            stickwire::runtime::run::run(&config, &options).map(|report| println!("{report}")).map_err(|e| {
                eprintln!("stickwire: run: {e}");
                ExitCode::FAILURE
            })
        }),
        Command::Admin { addr, socket, command } => {
            let (line, timeout) = (command.join(" "), std::time::Duration::from_secs(10));
            let reply = match &socket {
                Some(path) => stickwire::control::admin::request_unix(path, &line, timeout),
                None => stickwire::control::admin::request(addr, &line, timeout),
            };
            match reply {
                Ok(reply) if reply.starts_with("error:") => {
                    eprintln!("stickwire: admin: {reply}");
                    Err(ExitCode::FAILURE)
                }
                Ok(reply) => {
                    println!("{reply}");
                    Ok(())
                }
                Err(e) => {
                    eprintln!("stickwire: admin {addr}: {e}");
                    Err(ExitCode::FAILURE)
                }
            }
        }
        Command::Reenact { config, capture, vip_map, report, out, fast, diff } => match diff {
            Some(reports) => reenact_diff(&reports),
            None => match (config, capture, report) {
                (Some(config), Some(capture), Some(report)) => load(&config).and_then(|c| {
                    let mut options = reenact::Options::new(&capture, VipMap::new(vip_map));
                    options.out = out;
                    options.fast = fast;
                    run_reenact(&c, &config, &options, &report)
                }),
                // clap requires all three without --diff.
                _ => Err(ExitCode::from(2)),
            },
        },
        Command::Bench { quick, json, workers, report_dir } => {
            stickwire::bench::main(&stickwire::bench::Options { quick, json, workers, report_dir }).map_err(|e| {
                eprintln!("stickwire: bench: {e}");
                ExitCode::FAILURE
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
