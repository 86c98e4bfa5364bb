//! The open-and-decode paths over arbitrary bytes, for the cargo-fuzz target
//! (`sources/fuzz`) and the bounded mutation test in the normal test suite: a file decoded
//! whole, and the same bytes as a reply stream arriving in pieces.

use std::io::Cursor;
use std::path::Path;

use crate::decode::FileDecoder;
use crate::resample::StreamResampler;
use crate::Error;

/// Output frames after which decoding stops (bounds time and memory on any input).
const MAX_FRAMES: u64 = 1 << 20;

/// Probe, decode, down-mix to stereo and resample to 24 kHz everything in `bytes`, as a
/// played file would be. Returns the frames produced; any failure must be a typed error,
/// never a panic or a hang.
pub fn open_and_decode(bytes: &[u8]) -> Result<u64, Error> {
    decode_to(bytes, 24_000, 2)
}

/// [`open_and_decode`] to any rate and channel count (1 or 2); also what the benchmark
/// times as "decode + resample".
pub fn decode_to(bytes: &[u8], rate: u32, channels: usize) -> Result<u64, Error> {
    let source = Box::new(Cursor::new(bytes.to_vec()));
    let mut decoder = FileDecoder::from_source(Path::new("<fuzz input>"), source, None, channels)?;
    let mut resampler = StreamResampler::new(decoder.sample_rate(), rate, channels, 1024)?;
    let mut block = Vec::new();
    let mut frames = 0u64;
    while frames < MAX_FRAMES && decoder.next_block(&mut block)? {
        resampler.push(&block, &mut |o| frames += (o.len() / channels) as u64);
        block.clear();
    }
    resampler.flush(&mut |o| frames += (o.len() / channels) as u64);
    Ok(frames)
}

/// Decode `bytes` as a reply stream ([`decode_stream`](crate::decode_stream)) fed in pieces
/// of `piece` bytes from another thread, into 24 kHz stereo, as an HTTP reply body would be;
/// the container is the one the bytes' magic suggests (MP3 otherwise). Returns the frames
/// produced, or the error the stream finished with; never a panic or a hang.
pub fn stream_and_decode(bytes: &[u8], piece: usize) -> Result<u64, Error> {
    use crate::stream::{decode_stream, Container, Decoded};
    let container = match bytes {
        [b'R', b'I', b'F', b'F', ..] => Container::Wav,
        [b'f', b'L', b'a', b'C', ..] => Container::Flac,
        [b'O', b'g', b'g', b'S', ..] => Container::Ogg,
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Container::Mp4,
        [0xFF, b, ..] if b & 0xF6 == 0xF0 => Container::Adts,
        _ => Container::Mp3,
    };
    let format = voxpace_core::Format::new(24_000, 2, 20)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let (mut input, mut output) = decode_stream(container, format, "<fuzz stream>")?;
    let data = bytes::Bytes::copy_from_slice(bytes);
    let piece = piece.max(1);
    let feeder = std::thread::spawn(move || {
        let mut at = 0;
        while at < data.len() {
            let end = (at + piece).min(data.len());
            input.put(data.slice(at..end));
            at = end;
            while input.has_pending() {
                if !input.blocking_feed() {
                    return;
                }
            }
        }
        input.close();
    });
    let mut frames = 0u64;
    let result = loop {
        match output.blocking_recv() {
            Some(Decoded::Samples(s)) => {
                frames += (s.len() / 2) as u64;
                if frames >= MAX_FRAMES {
                    break Ok(frames);
                }
            }
            Some(Decoded::Finished(r)) => break r.map(|()| frames),
            Some(_) => {}
            None => break Ok(frames),
        }
    };
    // Dropping the output stops a decoder still going (past MAX_FRAMES), which ends the feeder.
    drop(output);
    let _ = feeder.join();
    result
}
