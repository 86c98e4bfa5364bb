//! A float reply file above full scale is measured and normalised as the file has it, then
//! limited (not clipped) to 16 bits.
//!
//! The fixture is made by ffmpeg at test time.

mod common;

use std::path::PathBuf;

use common::format;
use voxpace_core::Normalise;
use voxpace_loudness::Meter;
use voxpace_sources::{decode_file, decode_reply, ReplyLevel};
use voxpace_test_kit::ffmpeg::{decode_f32, ffmpeg};

fn lufs_f32(samples: &[f32], rate: u32) -> f64 {
    let mut m = Meter::integrated(rate, 1).unwrap();
    m.add_f32(samples);
    m.integrated_lufs().unwrap()
}

fn lufs_i16(samples: &[i16], rate: u32) -> f64 {
    let mut m = Meter::integrated(rate, 1).unwrap();
    m.add_i16(samples);
    m.integrated_lufs().unwrap()
}

#[test]
fn a_float_reply_above_full_scale_is_normalised_before_any_clipping() {
    let dir = std::env::temp_dir().join(format!("voxpace-reply-level-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join("hot.wav");
    // A voice-like tone at about -11 LUFS with 4 ms bursts peaking at +9 dBFS twice a second.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "aevalsrc=0.4*sin(2*PI*(220+80*sin(2*PI*3*t))*t)*(0.6+0.4*sin(2*PI*4*t))+2.6*sin(2*PI*1000*t)*lt(mod(t\\,0.5)\\,0.004):s=48000:d=4",
        "-c:a",
        "pcm_f32le",
        file.to_str().unwrap(),
    ]);
    let rate = 48_000;
    let theirs = decode_f32(&file, 1);
    let peak_db = 20.0 * theirs.iter().fold(0f32, |m, x| m.max(x.abs())).log10();
    let file_lufs = lufs_f32(&theirs, rate);
    let clipped: Vec<f32> = theirs.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
    let clipped_lufs = lufs_f32(&clipped, rate);

    let target = -16.0;
    let reply = decode_reply(
        &file,
        format(rate, 1),
        ReplyLevel::normalised(Normalise::to(target)),
    )
    .unwrap();
    let out_lufs = lufs_i16(&reply.samples, rate);
    let measured = reply.measured_lufs.unwrap() as f64;
    eprintln!(
        "file: {file_lufs:.2} LUFS, peak {peak_db:+.2} dBFS ({clipped_lufs:.2} LUFS clipped); measured {measured:.2} LUFS, gain {:+.2} dB, limiter {:.2} dB; reply {out_lufs:.2} LUFS",
        reply.gain_db, reply.limited_db
    );
    assert!(peak_db > 9.0, "the fixture peaks at {peak_db} dBFS");
    assert!(
        (measured - file_lufs).abs() < 0.1,
        "measured {measured} LUFS, the file is {file_lufs} LUFS"
    );
    assert!(
        (file_lufs - clipped_lufs).abs() > 0.5,
        "the fixture's clipping changes its loudness"
    );
    assert!(
        (out_lufs - target as f64).abs() <= 1.0,
        "the reply is {out_lufs} LUFS, the target {target}"
    );
    assert!(reply.limited_db < -1.0, "the limiter set the peak");
    assert_eq!(reply.samples.len(), theirs.len(), "every sample is there");
    assert!(reply.broken.is_none() && reply.damage.is_empty());

    // Without a target: the file's own level, its peaks limited instead of clipped (a clip
    // would hold a run of full-scale samples at each burst).
    let own = decode_file(&file, format(rate, 1)).unwrap();
    let full = own.iter().filter(|s| s.unsigned_abs() >= 32_767).count();
    let own_lufs = lufs_i16(&own, rate);
    eprintln!("as is: {own_lufs:.2} LUFS, {full} samples at full scale");
    assert_eq!(full, 0, "{full} samples clipped");
    // The limiter turns the bursts and the 50 ms after them down (a few dB of loudness).
    assert!(
        (own_lufs - file_lufs).abs() < 3.0,
        "{own_lufs} vs {file_lufs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
