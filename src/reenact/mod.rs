//! `stickwire reenact`: real client<->server captures replayed through the switch, the
//! client's side played into it and the server's side as whichever real server it chose, each
//! side checked to receive exactly the bytes the other sent.
//!
//! A capture taken at a client or a server (tcpdump, no switch in between) is read twice: once
//! to learn its conversations and what each side sent ([`capture::scan`]), once to play its
//! segments in order ([`player`]). Each conversation's server is mapped to a VIP port
//! (`--vip-map`, [`vipmap`]) and its client placed on the switch's network ([`cast`]); the
//! switch is the same engine `run` and `replay` use, built from the config with the config's
//! seed, its clock following the capture. Each end is played ([`side`]): its captured
//! segments go in order, each once the side has received what it acknowledges, its sequence
//! numbers as captured and its acknowledgements moved onto what it received; what it receives
//! is checked against what the other side sent ([`sent`]). At the end every conversation gets
//! a verdict ([`judge`]) and the report is written ([`report`]); `--out` records the traffic
//! on both sides ([`pcapng`]); [`diff`] compares two reports.
//!
//! Memory: the capture is streamed; each conversation keeps its summary (a few KiB) and, while
//! it plays, what its sides wait to send or keep to check (bounded per side, see
//! [`side::QUEUE_CAP`] and [`sent::Sent::CAP`]).
//!
//! - [`capture`]: reading the captures: conversations, their streams, their segments in order.

pub mod capture;
pub mod cast;
pub mod diff;
pub mod frames;
pub mod judge;
pub mod live;
pub mod outcome;
pub mod pcapng;
pub mod player;
pub mod report;
pub mod sent;
pub mod side;
pub mod vipmap;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::control::config::Config;
use crate::engine::hash::Secrets;
use crate::engine::l4::WorkerSlot;
use crate::engine::l7::rules::Decided;
use crate::engine::Engine;
use capture::{CaptureError, Limits, Segments};
use cast::CastError;
use player::Player;
use report::{CaptureInfo, Play, Report, SwitchCounters};
use vipmap::VipMap;

/// What to re-enact, and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub capture: PathBuf,
    pub vip_map: VipMap,
    /// Where to write the re-enacted traffic (pcapng), if anywhere.
    pub out: Option<PathBuf>,
    /// Leave out the capture's pauses.
    pub fast: bool,
    /// What each conversation keeps of its streams.
    pub limits: Limits,
}

impl Options {
    pub fn new(capture: &Path, vip_map: VipMap) -> Options {
        Options { capture: capture.to_owned(), vip_map, out: None, fast: false, limits: Limits::default() }
    }
}

/// Why a re-enactment could not run at all (anything less is in the report).
#[derive(Debug, thiserror::Error)]
pub enum ReenactError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Capture { path: PathBuf, source: CaptureError },
    #[error(transparent)]
    Cast(#[from] CastError),
    #[error(
        "no --vip-map: say which VIP port stands for the capture's servers, e.g. --vip-map '*:80=198.18.0.100:80'"
    )]
    NoMap,
    #[error("--out {0}")]
    Out(String),
}

/// Re-enacts the capture of `options` through a switch built from `config` (read from
/// `config_path`, named in the report).
pub fn reenact(config: &Config, config_path: &Path, options: &Options) -> Result<Report, ReenactError> {
    if options.vip_map.entries.is_empty() {
        return Err(ReenactError::NoMap);
    }
    let path = &options.capture;
    // Opened once here for a clear error, then for each of the two walks.
    File::open(path).map_err(|source| ReenactError::Open { path: path.clone(), source })?;
    let open = || File::open(path).map(BufReader::new).map_err(CaptureError::Io);
    reenact_from(config, config_path, options, open)
}

/// The same, for a capture already in memory (`options.capture` only names it).
pub fn reenact_bytes(config: &Config, capture: &[u8], options: &Options) -> Result<Report, ReenactError> {
    reenact_from(config, Path::new("-"), options, || Ok(capture))
}

/// Re-enacts the capture `open` gives (it is read twice: see the module).
fn reenact_from<R: Read>(
    config: &Config,
    config_path: &Path,
    options: &Options,
    open: impl Fn() -> Result<R, CaptureError>,
) -> Result<Report, ReenactError> {
    if options.vip_map.entries.is_empty() {
        return Err(ReenactError::NoMap);
    }
    let path = &options.capture;
    let in_capture = |source| ReenactError::Capture { path: path.clone(), source };
    let scan = capture::scan_reader(open().map_err(in_capture)?, options.limits).map_err(in_capture)?;
    let mut topology = config.topology(&config.configured_macs());
    // As `replay`: the secrets follow the seed, so a re-enactment gives the same report every
    // time.
    let services = config.services(Secrets::from_seed(config.seed.unwrap_or(0)));
    let castings = cast::cast(&scan, &options.vip_map, &mut topology, &services)?;
    let recorder = match &options.out {
        Some(out) => {
            let names: Vec<String> = topology.ports.iter().map(|p| p.name.clone()).collect();
            Some(pcapng::Recorder::create(out, &names).map_err(ReenactError::Out)?)
        }
        None => None,
    };
    let engine = Engine::with_services(topology, services.clone(), WorkerSlot::default());
    let mut player = Player::new(engine, castings, options.fast, recorder);
    let mut walk = Segments::new(open().map_err(in_capture)?, options.limits).map_err(in_capture)?;
    player.run(&scan, &mut walk).map_err(in_capture)?;
    if let Some(recorder) = player.take_recorder() {
        recorder.finish().map_err(ReenactError::Out)?;
    }
    let play = play_figures(&player);
    let switch = switch_counters(player.engine());
    let (castings, outcomes) = player.finish();
    let judged = judge::judge_all(&scan.conversations, &castings, outcomes, &services);
    Ok(Report {
        config: config_path.display().to_string(),
        capture: CaptureInfo {
            path: path.display().to_string(),
            frames: scan.link.frames,
            tcp_conversations: scan.conversations.len(),
            notes: scan.notes(),
        },
        vip_map: options.vip_map.entries.iter().map(ToString::to_string).collect(),
        clock: if options.fast { "fast" } else { "capture" }.into(),
        summary: judged.summary,
        connections: judged.connections,
        unmapped: judged.unmapped,
        skipped: judged.skipped,
        switch,
        play,
    })
}

fn switch_counters(engine: &Engine<Vec<u8>>) -> SwitchCounters {
    let drops = crate::engine::DropReason::ALL
        .iter()
        .map(|&r| (r.name().to_string(), engine.counters().drops(r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let stats = engine.l4().stats();
    let l7 = &stats.l7;
    let l4 = player::L4_COUNTED.iter().zip(player::l4_counted(&stats)).filter(|(_, n)| *n > 0);
    SwitchCounters {
        drops,
        l4: l4.map(|(k, n)| (k.to_string(), n)).collect(),
        l7: l7.named().iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.to_string(), *n)).collect(),
        decided: Decided::ALL
            .iter()
            .map(|&d| (d.name().to_string(), l7.decided_by(d)))
            .filter(|(_, n)| *n > 0)
            .collect(),
    }
}

fn play_figures(player: &Player) -> Play {
    let s = &player.stats;
    Play {
        frames_to_switch: s.frames_in,
        frames_from_switch: s.frames_out,
        unattributed_frames: s.unattributed,
        bad_frames: s.bad_frames,
        first_bad_frame: s.first_bad_frame.clone(),
        peak_held_bytes: s.peak_held_bytes,
        duration_ms: u64::try_from((s.ended - s.started).as_millis()).unwrap_or(u64::MAX),
    }
}
