//! `cargo bench`: the same scenarios as `stickwire bench`.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if let Err(e) = stickwire::bench::main(quick, None) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
