//! The `stickwire` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use stickwire::control::config::Config;
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
