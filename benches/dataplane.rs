//! `cargo bench`: the same scenarios as `stickwire bench`.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let options = stickwire::bench::Options { quick, ..Default::default() };
    if let Err(e) = stickwire::bench::main(&options) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
