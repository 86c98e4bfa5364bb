//! Text marks through the runtime's conversion path: marks given at the producer's rate
//! keep their media time when its audio is resampled to the output's rate.

use voxpace_core::{Event, Format, Track, TrackConfig};
use voxpace_runtime::marks::{convert, MarkSpec};
use voxpace_runtime::serve::intake::{Converter, Wire};

#[tokio::test]
async fn marks_keep_their_media_time_through_resampling() {
    // 16 kHz input: silence with a step up to a plateau at each mark's own input sample.
    let in_rate = 16_000;
    let onsets = [1_600u64, 8_000, 12_345, 20_001];
    let mut input = vec![0i16; 32_000];
    for &o in &onsets {
        input[o as usize..o as usize + 800].fill(8_000);
    }
    let specs: Vec<MarkSpec> = onsets
        .iter()
        .enumerate()
        .map(|(i, &o)| MarkSpec {
            at_ms: None,
            at_samples: Some(o),
            text: format!(" w{i}"),
        })
        .collect();
    let format = Format::default(); // 24 kHz
    let marks = convert(&specs, in_rate, format.sample_rate()).unwrap();
    let mut track = Track::new(format, TrackConfig::default()).unwrap();
    let h = track.handle();
    let mut events = h.events();
    let mut writer = h.open_reply().unwrap();
    for m in &marks {
        writer.mark(m.offset, &m.text).unwrap();
    }
    let wire = Wire::Raw {
        rate: in_rate,
        channels: 1,
        big_endian: false,
    };
    let mut converter = Converter::new(wire, format);
    let bytes: Vec<u8> = input.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = Vec::new();
    // Ragged chunks, odd sizes included, as a network delivers them.
    for chunk in bytes.chunks(1_237) {
        out.clear();
        converter.feed(chunk, &mut out).unwrap();
        writer.push_samples(&out).await.unwrap();
    }
    out.clear();
    converter.finish(&mut out).unwrap();
    writer.push_samples(&out).await.unwrap();
    writer.finish().unwrap();

    let mut mix = Vec::new();
    let mut frame = vec![0i16; format.frame_len()];
    for _ in 0..110 {
        track.render(&mut frame);
        mix.extend_from_slice(&frame);
    }
    let played: Vec<(String, u64)> = std::iter::from_fn(|| events.try_next())
        .filter_map(|e| match e {
            Event::TextPlayed { text, pts, .. } => Some((text, pts)),
            _ => None,
        })
        .collect();
    assert_eq!(played.len(), onsets.len(), "{played:?}");
    for ((text, pts), &onset) in played.iter().zip(&onsets) {
        // The step crosses half its height at its media time; so does the mark.
        let crossing = (*pts as usize - 20..).find(|&i| mix[i] >= 4_000).unwrap() as u64;
        assert!(
            crossing.abs_diff(*pts) <= 1,
            "{text}: mark at output sample {pts}, its audio at {crossing} (input sample {onset})"
        );
        // The reply started on the first frame: its pts is the mark's offset,
        // round(onset × 24000 / 16000).
        assert_eq!(*pts, (onset * 24_000 + 8_000) / 16_000);
    }
}
