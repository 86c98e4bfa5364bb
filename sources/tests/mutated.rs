//! A bounded random-input test of the open-and-decode path, run with the normal suite (the
//! cargo-fuzz target in `sources/fuzz` does the same for longer): real fixtures with bytes
//! flipped, cut, duplicated and overwritten must give audio or a typed error naming the
//! input, never a panic or a hang.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::fixture;
use voxpace_sources::fuzzing::{open_and_decode, stream_and_decode};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 => {
                // Flip a few bytes, biased to the header where parsing decisions are made.
                for _ in 0..1 + rng.below(8) {
                    let limit = if rng.below(2) == 0 { 256 } else { usize::MAX };
                    let i = rng.below(v.len().min(limit));
                    if let Some(b) = v.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
            1 => v.truncate(rng.below(v.len())),
            2 => {
                let (a, n) = (rng.below(v.len()), rng.below(512));
                let chunk: Vec<u8> = v[a..(a + n).min(v.len())].to_vec();
                let at = rng.below(v.len());
                v.splice(at..at, chunk);
            }
            3 => {
                let at = rng.below(v.len());
                let fill = [0x00, 0xff, 0x55][rng.below(3)];
                for b in v.iter_mut().skip(at).take(rng.below(256)) {
                    *b = fill;
                }
            }
            _ => {
                // Extreme values into 32-bit fields (sizes, rates, counts).
                let at = rng.below(v.len().saturating_sub(4));
                let val: u32 = [0, 1, u32::MAX, 0x7fff_ffff, 96_001][rng.below(5)];
                if at + 4 <= v.len() {
                    v[at..at + 4].copy_from_slice(&val.to_le_bytes());
                }
            }
        }
    }
    v
}

#[test]
fn mutated_fixtures_never_panic_or_hang() {
    let files = [
        "tone_s16_8k_mono.wav",
        "tone_f32_22k_stereo.wav",
        "tone_44k_stereo.flac",
        "tone_44k_stereo.mp3",
        "tone_48k_stereo.ogg",
        "tone_44k_stereo.m4a",
        "tone_16k_mono.mp4",
        "centre_48k_5.1.flac",
    ];
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut ok, mut errors) = (0, 0);
        for name in files {
            let bytes = std::fs::read(fixture(name)).unwrap();
            // The first 24 KiB keep each decode short; the cut itself is a mutation.
            let head = &bytes[..bytes.len().min(24 * 1024)];
            for _ in 0..40 {
                let input = mutate(&mut rng, head);
                match open_and_decode(&input) {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        assert!(e.to_string().contains("<fuzz input>"), "{e}");
                        errors += 1;
                    }
                }
            }
        }
        tx.send((ok, errors)).unwrap();
    });
    let (ok, errors) = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("decoding mutated inputs hung (or panicked)");
    eprintln!("{ok} mutated inputs decoded, {errors} rejected with a typed error");
    assert!(ok > 0 && errors > 0, "the mutations exercise both outcomes");
}

/// The same mutations as reply streams arriving in pieces of any size (the decoder thread,
/// its pipe, the MP4 start it keeps): audio or a typed error naming the stream.
#[test]
fn mutated_streams_never_panic_or_hang() {
    let files = [
        "tone_s16_8k_mono.wav",
        "tone_44k_stereo.flac",
        "tone_44k_stereo.mp3",
        "tone_48k_stereo.ogg",
        "unsupported_opus.ogg",
        "tone_44k_stereo.m4a",
    ];
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut ok, mut errors) = (0, 0);
        for name in files {
            let bytes = std::fs::read(fixture(name)).unwrap();
            let head = &bytes[..bytes.len().min(24 * 1024)];
            for _ in 0..15 {
                let input = mutate(&mut rng, head);
                match stream_and_decode(&input, 1 + rng.below(3000)) {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        assert!(e.to_string().contains("<fuzz stream>"), "{e}");
                        errors += 1;
                    }
                }
            }
        }
        tx.send((ok, errors)).unwrap();
    });
    let (ok, errors) = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("decoding mutated streams hung (or panicked)");
    eprintln!("{ok} mutated streams decoded, {errors} rejected with a typed error");
    assert!(ok > 0 && errors > 0, "the mutations exercise both outcomes");
}

#[test]
fn every_intact_fixture_decodes_through_the_fuzz_entry() {
    let frames = open_and_decode(&std::fs::read(fixture("tone_44k_stereo.flac")).unwrap()).unwrap();
    assert_eq!(frames, 48_000, "2 s at 24 kHz");
    let bytes = std::fs::read(fixture("tone_44k_stereo.mp3")).unwrap();
    assert_eq!(
        stream_and_decode(&bytes, 333).unwrap(),
        open_and_decode(&bytes).unwrap(),
        "streamed in 333-byte pieces as decoded whole"
    );
}
