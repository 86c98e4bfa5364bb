//! Encoder delay and padding as an MP4 file declares them, which symphonia 0.6 reads but
//! does not apply: AAC starts with ~1024 frames of encoder priming and ends with padding up
//! to a whole packet, so a looped AAC file would have a gap at every seam and every pass
//! would start late.
//!
//! Two places say which frames are real, and this reads both from the `moov` box:
//! - `iTunSMPB` (iTunes, afconvert, Nero): `moov/udta/meta/ilst/----` with the text
//!   `" 00000000 DDDDDDDD PPPPPPPP LLLLLLLLLLLLLLLL ..."` (hex: delay, padding, length in
//!   frames). Exact; preferred when present.
//! - the edit list `moov/trak/edts/elst` of the first sound track (ffmpeg, most muxers): its
//!   first non-empty edit starts at `media_time` (media timescale) and lasts
//!   `segment_duration` (movie timescale).
//!
//! The edit's length is in the *movie* timescale, which ffmpeg sets to 1000 by default: a
//! length in whole milliseconds, up to 47 frames short of the real audio at 48 kHz, so a
//! loop would drift and click at every seam. The track's own sample table (`stts`: every
//! packet's duration in media ticks, the last one cut to the real audio by the muxer) and
//! its `mdhd` duration are exact; when the edit ends within one movie tick of where the
//! media ends, the media's end is taken (an edit that really cuts the audio short, by more
//! than the rounding, is kept as it is).
//!
//! A small box reader rather than an MP4 crate: two boxes are needed, the crates at hand
//! either skip the freeform `----` atom or bring a whole demuxer next to symphonia's.

use std::io::{Read, Seek, SeekFrom};

/// The real audio of a track, in ticks of its media timescale (for audio, normally the
/// sample rate): `start` ticks of delay, then `len` ticks (to the end when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: u64,
    pub(crate) len: Option<u64>,
}

impl Window {
    /// Of a packet whose `n` decoded frames start at frame `first`, the range `[from, to)`
    /// (indices into the packet) that lies inside the window; `frames_per_tick` converts.
    pub(crate) fn keep(
        &self,
        first: u64,
        n: u64,
        ticks_to_frames: impl Fn(u64) -> u64,
    ) -> (usize, usize) {
        let start = ticks_to_frames(self.start);
        let end = self.len.map(|l| ticks_to_frames(self.start + l));
        let from = start.saturating_sub(first).min(n);
        let to = end.map_or(n, |e| e.saturating_sub(first).min(n));
        (from as usize, to.max(from) as usize)
    }
}

/// The largest `moov` box read (larger ones are skipped: no trimming, as before).
const MAX_MOOV: u64 = 32 << 20;

/// Read the gapless window of an MP4/M4A file from `source`, then seek it back to where it
/// was. `None` for anything that is not MP4 or declares nothing.
pub(crate) fn read_mp4<S: Read + Seek + ?Sized>(source: &mut S) -> Option<Window> {
    let start = source.stream_position().ok()?;
    let found = find_moov(source).and_then(|moov| parse_moov(&moov));
    source.seek(SeekFrom::Start(start)).ok()?;
    found
}

fn find_moov<S: Read + Seek + ?Sized>(source: &mut S) -> Option<Vec<u8>> {
    let mut first = true;
    loop {
        let mut head = [0u8; 8];
        source.read_exact(&mut head).ok()?;
        let size = u32::from_be_bytes(head[..4].try_into().ok()?) as u64;
        let kind = &head[4..8];
        if first && kind != b"ftyp" {
            return None;
        }
        first = false;
        let (size, header) = match size {
            1 => {
                let mut large = [0u8; 8];
                source.read_exact(&mut large).ok()?;
                (u64::from_be_bytes(large), 16)
            }
            0 => return None, // to the end of the file: the last box, not moov we can bound
            n => (n, 8),
        };
        let body = size.checked_sub(header)?;
        if kind == b"moov" {
            if body > MAX_MOOV {
                return None;
            }
            let mut moov = vec![0u8; body as usize];
            source.read_exact(&mut moov).ok()?;
            return Some(moov);
        }
        source
            .seek(SeekFrom::Current(i64::try_from(body).ok()?))
            .ok()?;
    }
}

/// Iterate the boxes in `data`: (type, body).
fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes(data[..4].try_into().ok()?) as usize;
        let kind: [u8; 4] = data[4..8].try_into().ok()?;
        let (size, header) = match size {
            0 => (data.len(), 8),
            1 => {
                let large = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
                (usize::try_from(large).ok()?, 16)
            }
            n => (n, 8),
        };
        if size < header || size > data.len() {
            return None;
        }
        let body = &data[header..size];
        data = &data[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

fn be_u32(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn parse_moov(moov: &[u8]) -> Option<Window> {
    itunsmpb(moov).or_else(|| edit_list(moov))
}

/// The `timescale` of an `mvhd` or `mdhd` (full boxes, version 0 or 1).
fn timescale(full_box: &[u8]) -> Option<u64> {
    match full_box.first()? {
        0 => be_u32(full_box, 12),
        1 => be_u32(full_box, 20),
        _ => None,
    }
    .filter(|t| *t > 0)
}

fn edit_list(moov: &[u8]) -> Option<Window> {
    let movie_scale = timescale(child(moov, b"mvhd")?)?;
    let trak = boxes(moov)
        .filter(|(k, _)| k == b"trak")
        .map(|(_, b)| b)
        .find(|trak| {
            child(trak, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .and_then(|h| h.get(8..12))
                == Some(b"soun")
        })?;
    let mdhd = child(child(trak, b"mdia")?, b"mdhd")?;
    let media_scale = timescale(mdhd)?;
    let media_len = sample_table_len(trak).or_else(|| media_duration(mdhd));
    let elst = child(child(trak, b"edts")?, b"elst")?;
    let version = *elst.first()?;
    let count = be_u32(elst, 4)? as usize;
    let entry = if version == 1 { 20 } else { 12 };
    for i in 0..count.min(64) {
        let at = 8 + i * entry;
        let (duration, media_time) = if version == 1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
        } else {
            (
                be_u32(elst, at)?,
                be_u32(elst, at + 4)? as u32 as i32 as i64,
            )
        };
        if media_time < 0 {
            continue; // an empty edit (leading silence): nothing to trim
        }
        let start = media_time as u64;
        let len = (duration > 0).then(|| {
            let rounded = (duration as u128 * media_scale as u128 / movie_scale as u128) as u64;
            // One movie tick in media ticks (rounded up), plus one for the truncation above.
            let tick = media_scale.div_ceil(movie_scale) + 1;
            match media_len.and_then(|l| l.checked_sub(start)) {
                Some(exact) if exact.abs_diff(rounded) <= tick => exact,
                _ => rounded,
            }
        });
        return Some(Window { start, len });
    }
    None
}

/// The `duration` of an `mdhd` (media ticks; all ones means unknown).
fn media_duration(mdhd: &[u8]) -> Option<u64> {
    match mdhd.first()? {
        0 => be_u32(mdhd, 16).filter(|d| *d != u32::MAX as u64),
        1 => be_u64(mdhd, 24).filter(|d| *d != u64::MAX),
        _ => None,
    }
    .filter(|d| *d > 0)
}

/// The sum of a track's sample durations (`mdia/minf/stbl/stts`), in media ticks: the exact
/// length of its media. `None` for a fragmented file (its samples live in `moof` boxes).
fn sample_table_len(trak: &[u8]) -> Option<u64> {
    let stts = child(
        child(child(child(trak, b"mdia")?, b"minf")?, b"stbl")?,
        b"stts",
    )?;
    let count = be_u32(stts, 4)? as usize;
    let mut total = 0u64;
    for i in 0..count {
        let at = 8 + i * 8;
        total = total.checked_add(be_u32(stts, at)?.checked_mul(be_u32(stts, at + 4)?)?)?;
    }
    (total > 0).then_some(total)
}

fn itunsmpb(moov: &[u8]) -> Option<Window> {
    let meta = child(child(moov, b"udta")?, b"meta")?;
    // `meta` is a full box (4 bytes of version and flags) in MP4; QuickTime writes it
    // without them.
    let ilst = child(meta.get(4..)?, b"ilst").or_else(|| child(meta, b"ilst"))?;
    for (kind, item) in boxes(ilst) {
        if &kind != b"----" {
            continue;
        }
        let name = child(item, b"name").and_then(|n| n.get(4..));
        if name != Some(b"iTunSMPB") {
            continue;
        }
        let text = std::str::from_utf8(child(item, b"data")?.get(8..)?).ok()?;
        let fields: Vec<u64> = text
            .split_whitespace()
            .take(4)
            .map(|f| u64::from_str_radix(f, 16))
            .collect::<Result<_, _>>()
            .ok()?;
        if let [_, delay, _padding, length] = fields[..] {
            return Some(Window {
                start: delay,
                len: (length > 0).then_some(length),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(version: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![version, 0, 0, 0];
        v.extend_from_slice(body);
        v
    }

    fn header(timescale: u32) -> Vec<u8> {
        // creation, modification, timescale, duration (version 0)
        let mut v = vec![0u8; 8];
        v.extend_from_slice(&timescale.to_be_bytes());
        v.extend_from_slice(&[0u8; 4]);
        v
    }

    fn file(moov_children: &[Vec<u8>]) -> Vec<u8> {
        let mut f = bx(b"ftyp", b"M4A \0\0\0\0");
        f.extend(bx(b"mdat", &[0u8; 100]));
        f.extend(bx(b"moov", &moov_children.concat()));
        f
    }

    fn sound_trak(elst: Vec<u8>, media_scale: u32) -> Vec<u8> {
        let hdlr = bx(b"hdlr", &full(0, b"\0\0\0\0soun\0\0\0\0\0\0\0\0\0\0\0\0\0"));
        let mdia = bx(
            b"mdia",
            &[bx(b"mdhd", &full(0, &header(media_scale))), hdlr].concat(),
        );
        bx(b"trak", &[bx(b"edts", &bx(b"elst", &elst)), mdia].concat())
    }

    fn sound_trak_with_stts(elst: Vec<u8>, media_scale: u32, stts: &[(u32, u32)]) -> Vec<u8> {
        let hdlr = bx(b"hdlr", &full(0, b"\0\0\0\0soun\0\0\0\0\0\0\0\0\0\0\0\0\0"));
        let mut table = (stts.len() as u32).to_be_bytes().to_vec();
        for (count, delta) in stts {
            table.extend_from_slice(&count.to_be_bytes());
            table.extend_from_slice(&delta.to_be_bytes());
        }
        let stbl = bx(b"stbl", &bx(b"stts", &full(0, &table)));
        let mdia = bx(
            b"mdia",
            &[
                bx(b"mdhd", &full(0, &header(media_scale))),
                hdlr,
                bx(b"minf", &stbl),
            ]
            .concat(),
        );
        bx(b"trak", &[bx(b"edts", &bx(b"elst", &elst)), mdia].concat())
    }

    #[test]
    fn a_length_rounded_to_movie_ticks_is_taken_from_the_sample_table() {
        // ffmpeg's default: movie timescale 1000. 64 546 real frames at 44.1 kHz after
        // 1024 of priming: the edit says 1463 ms (64 518 frames); the packets say 65 570.
        let mvhd = bx(b"mvhd", &full(0, &header(1000)));
        let stts = [(64, 1024), (1, 34)];
        let f = file(&[
            mvhd.clone(),
            sound_trak_with_stts(elst_v0(&[(1463, 1024)]), 44_100, &stts),
        ]);
        let w = read_mp4(&mut Cursor::new(f)).unwrap();
        assert_eq!(
            w,
            Window {
                start: 1024,
                len: Some(64_546)
            }
        );
        // An edit that really ends early (by more than a movie tick) is kept.
        let f = file(&[
            mvhd,
            sound_trak_with_stts(elst_v0(&[(1000, 1024)]), 44_100, &stts),
        ]);
        assert_eq!(read_mp4(&mut Cursor::new(f)).unwrap().len, Some(44_100));
    }

    fn elst_v0(entries: &[(u32, i32)]) -> Vec<u8> {
        let mut b = (entries.len() as u32).to_be_bytes().to_vec();
        for (d, t) in entries {
            b.extend_from_slice(&d.to_be_bytes());
            b.extend_from_slice(&t.to_be_bytes());
            b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        full(0, &b)
    }

    #[test]
    fn the_edit_list_gives_delay_and_length_in_media_ticks() {
        let mvhd = bx(b"mvhd", &full(0, &header(1000)));
        let f = file(&[
            mvhd,
            sound_trak(elst_v0(&[(500, -1), (1000, 1024)]), 44_100),
        ]);
        let mut c = Cursor::new(f);
        c.set_position(0);
        let w = read_mp4(&mut c).unwrap();
        assert_eq!(
            w,
            Window {
                start: 1024,
                len: Some(44_100)
            }
        );
        assert_eq!(c.position(), 0, "the source is rewound");
    }

    #[test]
    fn itunsmpb_wins_over_the_edit_list() {
        let mvhd = bx(b"mvhd", &full(0, &header(1000)));
        let data = bx(
            b"data",
            b"\0\0\0\x01\0\0\0\0 00000000 00000840 000001C0 000000000000AC44 00000000",
        );
        let item = bx(
            b"----",
            &[
                bx(b"mean", b"\0\0\0\0com.apple.iTunes"),
                bx(b"name", b"\0\0\0\0iTunSMPB"),
                data,
            ]
            .concat(),
        );
        let udta = bx(b"udta", &bx(b"meta", &full(0, &bx(b"ilst", &item))));
        let f = file(&[mvhd, sound_trak(elst_v0(&[(1000, 1024)]), 44_100), udta]);
        let w = read_mp4(&mut Cursor::new(f)).unwrap();
        assert_eq!(
            w,
            Window {
                start: 0x840,
                len: Some(0xAC44)
            }
        );
    }

    #[test]
    fn anything_else_declares_nothing() {
        assert_eq!(
            read_mp4(&mut Cursor::new(b"RIFF\0\0\0\0WAVEfmt ".to_vec())),
            None
        );
        let mvhd = bx(b"mvhd", &full(0, &header(1000)));
        assert_eq!(read_mp4(&mut Cursor::new(file(&[mvhd]))), None);
        // Truncated and garbage boxes do not panic.
        let mut f = file(&[bx(b"mvhd", &full(0, &header(1000)))]);
        f.truncate(f.len() - 5);
        assert_eq!(read_mp4(&mut Cursor::new(f)), None);
    }

    #[test]
    fn the_window_cuts_packets() {
        let w = Window {
            start: 1024,
            len: Some(44_100),
        };
        let id = |t| t;
        assert_eq!(w.keep(0, 1024, id), (1024, 1024));
        assert_eq!(w.keep(1024, 1024, id), (0, 1024));
        assert_eq!(w.keep(45_056, 1024, id), (0, 68));
        assert_eq!(w.keep(46_080, 1024, id), (0, 0));
    }
}
