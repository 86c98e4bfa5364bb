//! Files with flipped bits play on past the damage, as ffmpeg does: every damaged frame is
//! skipped (reported as damage), the rest plays, at least 90 % of what ffmpeg decodes.
//!
//! The fixtures are made by ffmpeg at test time and damaged here.

mod common;

use common::Dir;

use voxpace_sources::{check_file, decode_reply, Error, ReplyLevel};
use voxpace_test_kit::ffmpeg::{decode_f32, ffmpeg};

/// Damage the header of every `nth` MP3 frame (MPEG-1 Layer III at 44.1 kHz): its bit-rate
/// index becomes the invalid 15, so the demuxer loses sync there and finds the next frame
/// (as ffmpeg does: "Header missing").
fn break_mp3_headers(bytes: &mut [u8], nth: usize) -> usize {
    let (mut at, mut frame, mut broken) = (0, 0, 0);
    while at + 4 < bytes.len() {
        let h = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        if h & 0xFFFE_0000 == 0xFFFA_0000 && (h >> 12) & 0xF == 9 && (h >> 10) & 3 == 0 {
            let len = 144 * 128_000 / 44_100 + ((h >> 9) & 1) as usize;
            if frame > 2 && frame % nth == 0 {
                bytes[at + 2] |= 0xF0;
                broken += 1;
            }
            frame += 1;
            at += len;
        } else {
            at += 1;
        }
    }
    broken
}

/// Flip `n` random bits past the first `skip` bytes (headers stay readable).
fn flip_random(bytes: &mut [u8], skip: usize, seed: u64, n: usize) -> usize {
    let mut rng = seed;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..n {
        let i = skip + (next() as usize % (bytes.len() - skip));
        bytes[i] ^= 1 << (next() % 8);
    }
    n
}

/// One case: `codec` encodes 1.5 s at 44.1 kHz, `damage` damages the file.
struct Case {
    name: &'static str,
    codec: &'static [&'static str],
    damage: fn(&mut [u8]) -> usize,
}

const MP3: &[&str] = &["-c:a", "libmp3lame", "-b:a", "128k"];

#[test]
fn files_with_flipped_bits_play_on_past_each_damaged_frame() {
    let dir = Dir::new("flips");
    let rate = 44_100u32;
    let cases = [
        // Every sixth frame header damaged: the demuxer loses sync and finds the next frame
        // (as ffmpeg does); the file still holds every byte its Info tag declares, so the
        // missing audio is damage, not a cut.
        Case {
            name: "headers.mp3",
            codec: MP3,
            damage: |b| break_mp3_headers(b, 6),
        },
        // Bits flipped in the audio data: MP3 has no checksum, so they play as noise.
        Case {
            name: "data.mp3",
            codec: MP3,
            damage: |b| flip_random(b, 2_048, 0x2545_f491_4f6c_dd1d, 35),
        },
        Case {
            name: "vorbis.ogg",
            codec: &["-c:a", "libvorbis", "-q:a", "4"],
            damage: |b| flip_random(b, 6_000, 7, 4),
        },
        Case {
            name: "aac.m4a",
            codec: &["-c:a", "aac", "-b:a", "128k"],
            damage: |b| flip_random(b, 2_048, 11, 8),
        },
        Case {
            name: "flac.flac",
            codec: &["-c:a", "flac"],
            damage: |b| flip_random(b, 8_192, 13, 3),
        },
    ];
    let mut failures = Vec::new();
    let mut damaged_mp3 = 0;
    for Case {
        name,
        codec,
        damage,
    } in cases
    {
        let clean = dir.path(&format!("clean-{name}"));
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*(700+300*sin(2*PI*0.5*t))*t):s=44100:d=1.5",
        ];
        args.extend_from_slice(codec);
        args.push(clean.to_str().unwrap());
        ffmpeg(&args);
        let mut bytes = std::fs::read(&clean).unwrap();
        let flipped = damage(&mut bytes);
        let damaged = dir.path(name);
        std::fs::write(&damaged, &bytes).unwrap();

        let theirs = decode_f32(&damaged, 1).len() as f64 / rate as f64;
        // As background: what decoded before the end (or before it broke).
        let (ours, damage) = match check_file(&damaged, None) {
            Ok(c) => (c.decoded.as_secs_f64(), c.damage),
            Err(e @ (Error::Truncated { decoded_ms, .. } | Error::Corrupt { decoded_ms, .. })) => {
                eprintln!("  {e}");
                (decoded_ms as f64 / 1e3, Vec::new())
            }
            Err(e) => panic!("{name}: {e}"),
        };
        // As a reply: what it holds.
        let reply = decode_reply(&damaged, common::format(48_000, 1), ReplyLevel::AS_IS).unwrap();
        let replied = reply.samples.len() as f64 / 48_000.0;
        eprintln!(
            "{name}: {flipped} places damaged; ffmpeg decodes {:.0} ms; we play {:.0} ms ({} damage reports), the reply {:.0} ms{}",
            theirs * 1e3,
            ours * 1e3,
            damage.len(),
            replied * 1e3,
            reply.broken.as_ref().map(|e| format!(" (broken: {e})")).unwrap_or_default(),
        );
        for (at, e) in damage.iter().chain(&reply.damage) {
            eprintln!("  at {at:?}: {e}");
            assert!(matches!(e, Error::Corrupt { .. }), "{name}: {e:?}");
            assert!(e.to_string().contains(name), "{e}");
        }
        if ours < 0.9 * theirs {
            failures.push(format!(
                "{name}: {ours} s played, ffmpeg decodes {theirs} s"
            ));
        }
        if replied < 0.9 * theirs {
            failures.push(format!(
                "{name}: the reply holds {replied} s, ffmpeg decodes {theirs} s"
            ));
        }
        if name.ends_with(".mp3") && theirs < 1.45 {
            // ffmpeg lost frames: so did we, and said so.
            damaged_mp3 += 1;
            if damage.is_empty() || reply.damage.is_empty() {
                failures.push(format!(
                    "{name}: frames were lost but no damage was reported"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(damaged_mp3 > 0, "some flips hit MP3 frame headers");
}
