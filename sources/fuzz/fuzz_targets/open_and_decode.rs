//! Any bytes through probe, decode, down-mix and resample: must return audio or a typed
//! error, never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = voxpace_sources::fuzzing::open_and_decode(data);
});
