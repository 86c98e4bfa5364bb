//! Any bytes through probe, decode, down-mix and resample, twice: as a file decoded whole,
//! and as a reply stream arriving in pieces (the decoder thread behind `decode_stream`, its
//! byte pipe, the MP4 start it keeps for the gapless trim). Each must return audio or a
//! typed error, never panic, hang or allocate without bound.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

static QUIET_HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts on every panic, even one voxpace-sources catches
    // and turns into `Error::Corrupt` (symphonia panics on some malformed headers). The
    // contract is that no panic *escapes*: an escaping one still aborts, because
    // libfuzzer-sys runs each input under `catch_unwind` and aborts when it unwinds.
    QUIET_HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = voxpace_sources::fuzzing::open_and_decode(data);
    // Piece sizes from the input's length: small and odd ones split headers anywhere.
    let piece = 1 + data.len() % 1021;
    let _ = voxpace_sources::fuzzing::stream_and_decode(data, piece);
});
