//! The header of a WAV stream arriving in pieces (a request body): found incrementally, so
//! the reply can start before the body has arrived (`hound` wants a whole `Read`er and
//! blocks on it). Knows plain PCM (`WAVE_FORMAT_PCM`) and `WAVE_FORMAT_EXTENSIBLE` with the
//! PCM subformat, 16-bit, and the length of the `data` chunk, so chunks after it (`LIST`,
//! `id3 `) are never played as audio. And the header of a WAV stream sent out (the live
//! audio monitor).

use super::error::ApiError;

/// The largest header accepted before the `data` chunk.
pub const MAX_HEADER: usize = 64 * 1024;

/// `WAVE_FORMAT_PCM`.
const FORMAT_PCM: u16 = 1;
/// `WAVE_FORMAT_EXTENSIBLE`: the real format is the subformat GUID.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// `KSDATAFORMAT_SUBTYPE_PCM` after its first two bytes (the format tag, 1).
const PCM_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// What the header says about the samples that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavHeader {
    /// Samples per second.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Offset of the first data byte in the stream.
    pub data_start: usize,
    /// Bytes of sample data; `None` when the writer did not know (0 or 0xFFFFFFFF, as
    /// streaming writers put it): then the data runs to the end of the stream.
    pub data_len: Option<u64>,
}

/// Parse the header at the start of `b`; `Ok(None)` while more bytes are needed.
pub fn parse_header(b: &[u8]) -> Result<Option<WavHeader>, ApiError> {
    let bad =
        |m: &str| ApiError::bad_request("bad_audio", format!("not a 16-bit PCM WAV stream: {m}"));
    if b.len() < 12 {
        return Ok(None);
    }
    if &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let mut at = 12;
    let mut layout = None;
    loop {
        if b.len() < at + 8 {
            return Ok(None);
        }
        let id = &b[at..at + 4];
        let size = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]);
        let body = at + 8;
        if id == b"data" {
            let (rate, channels) = layout.ok_or_else(|| bad("data chunk before the fmt chunk"))?;
            return Ok(Some(WavHeader {
                rate,
                channels,
                data_start: body,
                data_len: (size != 0 && size != u32::MAX).then_some(size as u64),
            }));
        }
        let size = size as usize;
        if b.len() < body + size {
            return Ok(None);
        }
        if id == b"fmt " {
            layout = Some(parse_fmt(&b[body..body + size]).map_err(|m| bad(&m))?);
        }
        at = body + size + (size & 1);
    }
}

/// Rate and channels from a `fmt ` chunk's body.
fn parse_fmt(f: &[u8]) -> Result<(u32, u16), String> {
    if f.len() < 16 {
        return Err("short fmt chunk".into());
    }
    let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
    let tag = u16_at(0);
    let channels = u16_at(2);
    let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
    let bits = u16_at(14);
    let pcm = match tag {
        FORMAT_PCM => true,
        FORMAT_EXTENSIBLE => {
            // cbSize (22), valid bits, channel mask, subformat GUID.
            if f.len() < 40 || u16_at(16) < 22 {
                return Err("WAVE_FORMAT_EXTENSIBLE without its extension".into());
            }
            let valid_bits = u16_at(18);
            if valid_bits != 0 && valid_bits != bits {
                return Err(format!(
                    "{valid_bits} valid bits in {bits}-bit containers; expected 16-bit PCM"
                ));
            }
            u16_at(24) == FORMAT_PCM && f[26..40] == PCM_GUID_TAIL
        }
        _ => false,
    };
    if !pcm || bits != 16 {
        let what = if tag == FORMAT_EXTENSIBLE {
            "an extensible format whose subformat is not PCM".to_string()
        } else {
            format!("format tag {tag}")
        };
        return Err(format!("{what}, {bits} bits; expected 16-bit PCM"));
    }
    if !(1..=2).contains(&channels) || !(1_000..=192_000).contains(&rate) {
        return Err(format!(
            "{channels} channels at {rate} Hz; expected mono or stereo, 1-192 kHz"
        ));
    }
    Ok((rate, channels))
}

/// A WAV header for a stream of unknown length (sizes at their maximum, as streaming
/// players expect).
pub(crate) fn stream_header(rate: u32, channels: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&u32::MAX.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
    h.extend_from_slice(&(2 * channels).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(u32::MAX - 36).to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV header: `fmt ` body as given, then `data` of `data_len` bytes.
    fn wav(fmt: &[u8], data_len: u32) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        b.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        b.extend_from_slice(fmt);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        b
    }

    fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * channels as u32 * bits as u32 / 8).to_le_bytes());
        f.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    fn extensible(bits: u16, valid: u16, subformat: u16) -> Vec<u8> {
        let mut f = fmt(FORMAT_EXTENSIBLE, 2, 48_000, bits);
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&valid.to_le_bytes());
        f.extend_from_slice(&3u32.to_le_bytes()); // front left, front right
        f.extend_from_slice(&subformat.to_le_bytes());
        f.extend_from_slice(&PCM_GUID_TAIL);
        f
    }

    #[test]
    fn plain_pcm_with_its_data_length() {
        let b = wav(&fmt(1, 1, 16_000, 16), 640);
        let h = parse_header(&b).unwrap().unwrap();
        assert_eq!(
            (h.rate, h.channels, h.data_start, h.data_len),
            (16_000, 1, 44, Some(640))
        );
        for unknown in [0, u32::MAX] {
            let h = parse_header(&wav(&fmt(1, 1, 16_000, 16), unknown))
                .unwrap()
                .unwrap();
            assert_eq!(
                h.data_len, None,
                "{unknown:#x} means: to the end of the stream"
            );
        }
        assert_eq!(parse_header(&b[..30]).unwrap(), None, "needs more bytes");
    }

    #[test]
    fn extensible_pcm_is_accepted_and_its_subformat_checked() {
        let h = parse_header(&wav(&extensible(16, 16, 1), 0))
            .unwrap()
            .unwrap();
        assert_eq!((h.rate, h.channels), (48_000, 2));
        let float = parse_header(&wav(&extensible(16, 16, 3), 0)).unwrap_err();
        assert!(
            float.message.contains("subformat is not PCM"),
            "{}",
            float.message
        );
        let padded = parse_header(&wav(&extensible(16, 12, 1), 0)).unwrap_err();
        assert!(
            padded.message.contains("12 valid bits"),
            "{}",
            padded.message
        );
        let short = parse_header(&wav(&fmt(FORMAT_EXTENSIBLE, 1, 16_000, 16), 0)).unwrap_err();
        assert!(
            short.message.contains("without its extension"),
            "{}",
            short.message
        );
    }

    #[test]
    fn other_formats_are_refused_by_name() {
        let e = parse_header(&wav(&fmt(3, 1, 16_000, 32), 0)).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("format tag 3"), "{}", e.message);
        let e = parse_header(&wav(&fmt(1, 1, 16_000, 24), 0)).unwrap_err();
        assert!(e.message.contains("24 bits"), "{}", e.message);
    }
}
