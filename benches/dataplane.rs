//! `cargo bench`: the same scenarios as `stickwire bench`. Under `cargo test --all-targets`
//! (no `--bench` argument) it runs them quickly, as a check that each still runs.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let options = stickwire::bench::Options { quick, ..Default::default() };
    if let Err(e) = stickwire::bench::main(&options) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
