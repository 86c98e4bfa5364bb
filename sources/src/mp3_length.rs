//! How many bytes of MPEG audio an MP3 file declares (its Xing/Info or VBRI tag), so a file
//! that ends short of its announced length can be told apart: cut off (its bytes are
//! missing: truncated) or damaged (all its bytes are there, but frames whose headers were
//! damaged were skipped by the demuxer's resynchronisation, as ffmpeg skips them).
//!
//! symphonia reads the tag's frame count (the announced length) but not its byte count.

use std::io::{Read, Seek, SeekFrom};

/// The declared byte length of the MPEG audio (from the tag's frame on), and where that
/// frame starts in the file. `None` when the file does not start (after an ID3v2 tag) with a
/// frame carrying a tag with a byte count. Seeks `source` back to where it was.
pub(crate) fn declared<S: Read + Seek + ?Sized>(source: &mut S) -> Option<(u64, u64)> {
    let start = source.stream_position().ok()?;
    let found = read(source);
    source.seek(SeekFrom::Start(start)).ok()?;
    found
}

fn read<S: Read + Seek + ?Sized>(source: &mut S) -> Option<(u64, u64)> {
    let mut head = [0u8; 10];
    source.read_exact(&mut head).ok()?;
    // An ID3v2 tag first: "ID3", version, flags, a 28-bit syncsafe size (+ a footer).
    let mut at = 0u64;
    if &head[..3] == b"ID3" {
        let size = head[6..10]
            .iter()
            .fold(0u64, |s, b| (s << 7) | (*b & 0x7F) as u64);
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        at = 10 + size + footer;
    }
    source.seek(SeekFrom::Start(at)).ok()?;
    let mut frame = [0u8; 200];
    source.read_exact(&mut frame).ok()?;
    parse_first_frame(&frame).map(|bytes| (bytes, at))
}

/// The byte count of the Xing/Info or VBRI tag in the first frame, `frame` (at least 200
/// bytes of it).
fn parse_first_frame(frame: &[u8]) -> Option<u64> {
    let h = u32::from_be_bytes(frame.get(..4)?.try_into().ok()?);
    if h >> 21 != 0x7FF {
        return None;
    }
    let version = (h >> 19) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    let layer = (h >> 17) & 3; // 1: Layer III
    let mono = (h >> 6) & 3 == 3;
    if version == 1 || layer != 1 {
        return None;
    }
    // The Xing/Info tag follows the side information.
    let side = match (version == 3, mono) {
        (true, false) => 32,
        (true, true) => 17,
        (false, false) => 17,
        (false, true) => 9,
    };
    let xing = 4 + side;
    let be = |at: usize| -> Option<u64> {
        Some(u32::from_be_bytes(frame.get(at..at + 4)?.try_into().ok()?) as u64)
    };
    match frame.get(xing..xing + 4)? {
        b"Xing" | b"Info" => {
            let flags = be(xing + 4)?;
            if flags & 2 == 0 {
                return None;
            }
            // The frame count comes first when present.
            let at = xing + 8 + if flags & 1 != 0 { 4 } else { 0 };
            be(at).filter(|b| *b > 0)
        }
        _ => {
            // VBRI sits 32 bytes after the header: "VBRI", version, delay, quality, bytes.
            (frame.get(36..40)? == b"VBRI")
                .then(|| be(36 + 10))
                .flatten()
                .filter(|b| *b > 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn info_frame(bytes: u32) -> Vec<u8> {
        // MPEG-1 Layer III, 128 kb/s, 44.1 kHz, joint stereo.
        let mut f = vec![0xFF, 0xFB, 0x90, 0x64];
        f.extend_from_slice(&[0u8; 32]);
        f.extend_from_slice(b"Info");
        f.extend_from_slice(&3u32.to_be_bytes()); // frames and bytes
        f.extend_from_slice(&100u32.to_be_bytes());
        f.extend_from_slice(&bytes.to_be_bytes());
        f.resize(417, 0);
        f
    }

    #[test]
    fn the_info_tags_byte_count_is_read_after_an_id3_tag() {
        let mut file = b"ID3\x04\x00\x00\x00\x00\x01\x00".to_vec(); // 128 bytes of tag
        file.extend_from_slice(&[0u8; 128]);
        file.extend(info_frame(41_700));
        let mut c = Cursor::new(file);
        assert_eq!(declared(&mut c), Some((41_700, 138)));
        assert_eq!(c.position(), 0);
    }

    #[test]
    fn anything_else_declares_nothing() {
        assert_eq!(declared(&mut Cursor::new(b"RIFF....WAVE".to_vec())), None);
        let mut no_tag = info_frame(1);
        no_tag[36..40].copy_from_slice(b"none");
        assert_eq!(declared(&mut Cursor::new(no_tag)), None);
        assert_eq!(declared(&mut Cursor::new(Vec::new())), None);
    }
}
