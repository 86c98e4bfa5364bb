//! Reply audio arriving over HTTP: the content type says what it is (raw 16-bit PCM with
//! its rate and channels, a WAV stream, or a compressed stream: MP3, FLAC, Ogg Vorbis/Opus,
//! AAC, MP4). A [`Converter`] turns arbitrary body chunks of PCM and WAV into samples in the
//! track's format (byte order, channel layout, sample rate); compressed bodies go to a
//! stream decoder (`coded.rs`).

use voxpace_core::Format;

use super::error::ApiError;

/// Content types accepted for reply audio (also listed in 415 answers and the OpenAPI).
pub const ACCEPTED: &str = "audio/L16;rate=R;channels=C (16-bit little-endian PCM; add endian=big for RFC 2586 byte order), audio/pcm;rate=R;channels=C, audio/wav (16-bit PCM WAV, header first), audio/mpeg (MP3), audio/flac, audio/ogg (Vorbis or Opus), audio/aac (ADTS) or audio/mp4 (AAC, moov first)";

/// What the body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Raw interleaved 16-bit PCM.
    Raw {
        /// Samples per second.
        rate: u32,
        /// 1 or 2.
        channels: u16,
        /// Byte order.
        big_endian: bool,
    },
    /// A WAV stream; the layout comes from its header.
    Wav,
    /// A compressed stream, decoded as it arrives; each request body is one whole stream.
    Coded(voxpace_sources::Container),
}

/// Parse a `Content-Type` header value.
pub fn parse_content_type(value: Option<&str>) -> Result<Wire, ApiError> {
    let value =
        value.ok_or_else(|| ApiError::unsupported(format!("no Content-Type; send {ACCEPTED}")))?;
    let mut parts = value.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    match mime.as_str() {
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Ok(Wire::Wav),
        "audio/l16" | "audio/pcm" => {
            let (mut rate, mut channels, mut big_endian) = (None, 1u16, false);
            for p in parts.filter(|p| !p.is_empty()) {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    ApiError::unsupported(format!("malformed parameter {p:?} in {value:?}"))
                })?;
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "rate" => {
                        rate = Some(v.parse::<u32>().ok().filter(|r| (1_000..=192_000).contains(r)).ok_or_else(
                            || ApiError::unsupported(format!("rate={v} in {value:?}: expected a sample rate between 1000 and 192000")),
                        )?)
                    }
                    "channels" => {
                        channels = v.parse::<u16>().ok().filter(|c| (1..=2).contains(c)).ok_or_else(|| {
                            ApiError::unsupported(format!("channels={v} in {value:?}: expected 1 or 2"))
                        })?
                    }
                    "endian" | "endianness" => {
                        big_endian = match v.to_ascii_lowercase().as_str() {
                            "little" => false,
                            "big" => true,
                            _ => {
                                return Err(ApiError::unsupported(format!(
                                    "endian={v} in {value:?}: expected little or big"
                                )))
                            }
                        }
                    }
                    _ => {}
                }
            }
            let rate = rate.ok_or_else(|| {
                ApiError::unsupported(format!(
                    "{value:?} has no rate parameter; send e.g. audio/L16;rate=16000;channels=1"
                ))
            })?;
            Ok(Wire::Raw {
                rate,
                channels,
                big_endian,
            })
        }
        other => match voxpace_sources::Container::from_mime(other) {
            Some(c) => Ok(Wire::Coded(c)),
            None => Err(ApiError::unsupported(format!(
                "Content-Type {value:?} is not reply audio; send {ACCEPTED}"
            ))),
        },
    }
}

/// Rate, channels, big-endian: the layout of raw input.
type Layout = (u32, u16, bool);

/// Body bytes in, samples in the track's format out, across chunks of any size.
#[derive(Debug)]
pub struct Converter {
    target: Format,
    /// The input layout once known (a WAV's after its header).
    layout: Option<Layout>,
    /// Bytes not yet converted: the WAV header so far, or an incomplete sample frame.
    carry: Vec<u8>,
    /// Sample bytes still to come when the stream said how many (a WAV's `data` chunk);
    /// whatever follows them is not audio and is skipped.
    remaining: Option<u64>,
    resampler: Option<voxpace_sources::TtsResampler>,
    scratch: Vec<i16>,
}

impl Converter {
    /// A converter for `wire` into `target`.
    pub fn new(wire: Wire, target: Format) -> Self {
        let layout = match wire {
            Wire::Raw {
                rate,
                channels,
                big_endian,
            } => Some((rate, channels, big_endian)),
            // Compressed streams never reach a converter (see `coded.rs`).
            Wire::Wav | Wire::Coded(_) => None,
        };
        let mut c = Self {
            target,
            layout: None,
            carry: Vec::new(),
            remaining: None,
            resampler: None,
            scratch: Vec::new(),
        };
        if let Some(l) = layout {
            // Raw layouts were range-checked when the content type was parsed.
            let _ = c.set_layout(l);
        }
        c
    }

    fn set_layout(&mut self, (rate, channels, big): Layout) -> Result<(), ApiError> {
        self.layout = Some((rate, channels, big));
        if rate != self.target.sample_rate() || channels != self.target.channels() {
            let r =
                voxpace_sources::TtsResampler::new(rate, channels, self.target).map_err(|e| {
                    ApiError::unsupported(format!("{rate} Hz, {channels} channel(s): {e}"))
                })?;
            self.resampler = Some(r);
        }
        Ok(())
    }

    /// The input sample rate and channels, once known.
    pub fn input_layout(&self) -> Option<(u32, u16)> {
        self.layout.map(|(r, c, _)| (r, c))
    }

    /// Convert `bytes`, appending samples in the target format to `out`. Each byte is
    /// copied once (decoded straight into `out`, or into the resampler's input); only the
    /// bytes of an incomplete sample frame wait in the carry for the next chunk.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<i16>) -> Result<(), ApiError> {
        if self.layout.is_some() {
            return self.convert(bytes, out);
        }
        self.carry.extend_from_slice(bytes);
        match super::wav::parse_header(&self.carry)? {
            None if self.carry.len() > super::wav::MAX_HEADER => Err(ApiError::bad_request(
                "bad_audio",
                "no WAV data chunk within the first 64 KiB",
            )),
            None => Ok(()),
            Some(h) => {
                self.set_layout((h.rate, h.channels, false))?;
                self.remaining = h.data_len;
                let data = self.carry.split_off(h.data_start);
                self.carry.clear();
                self.convert(&data, out)
            }
        }
    }

    /// Decode whole sample frames of `bytes` (after completing the carried one).
    fn convert(&mut self, bytes: &[u8], out: &mut Vec<i16>) -> Result<(), ApiError> {
        let mut bytes = bytes;
        if let Some(left) = self.remaining.as_mut() {
            // Chunks after the data (LIST, id3) are metadata, never audio.
            let take = bytes.len().min(*left as usize);
            *left -= take as u64;
            bytes = &bytes[..take];
        }
        let (_, channels, big) = self.layout.expect("layout known");
        let frame_bytes = 2 * channels as usize;
        let decode = |b: &[u8], to: &mut Vec<i16>| {
            to.extend(b.chunks_exact(2).map(|p| {
                if big {
                    i16::from_be_bytes([p[0], p[1]])
                } else {
                    i16::from_le_bytes([p[0], p[1]])
                }
            }))
        };
        let to = if self.resampler.is_some() {
            self.scratch.clear();
            &mut self.scratch
        } else {
            &mut *out
        };
        if !self.carry.is_empty() {
            let need = frame_bytes - self.carry.len();
            if bytes.len() < need {
                self.carry.extend_from_slice(bytes);
                return Ok(());
            }
            self.carry.extend_from_slice(&bytes[..need]);
            decode(&self.carry, to);
            self.carry.clear();
            bytes = &bytes[need..];
        }
        let usable = bytes.len() / frame_bytes * frame_bytes;
        decode(&bytes[..usable], to);
        self.carry.extend_from_slice(&bytes[usable..]);
        if let Some(r) = self.resampler.as_mut() {
            out.extend_from_slice(r.process(&self.scratch));
        }
        Ok(())
    }

    /// Flush the resampler at the end of the reply; `Err` with the number of bytes of an
    /// incomplete sample (frame) left over, or if a WAV stream never reached its data.
    pub fn finish(&mut self, out: &mut Vec<i16>) -> Result<(), ApiError> {
        if self.layout.is_none() {
            return Err(ApiError::bad_request(
                "bad_audio",
                "the WAV stream ended before its header was complete",
            ));
        }
        if let Some(r) = self.resampler.as_mut() {
            out.extend_from_slice(r.flush());
        }
        if !self.carry.is_empty() {
            let n = self.carry.len();
            self.carry.clear();
            return Err(ApiError::bad_request(
                "partial_sample",
                format!("the audio ended with {n} byte(s) of an incomplete sample (odd-length PCM); they were dropped, everything before them plays"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            parse_content_type(Some("audio/L16; rate=16000; channels=2")).unwrap(),
            Wire::Raw {
                rate: 16_000,
                channels: 2,
                big_endian: false
            }
        );
        assert_eq!(parse_content_type(Some("audio/wav")).unwrap(), Wire::Wav);
        assert_eq!(
            parse_content_type(Some("audio/mpeg")).unwrap(),
            Wire::Coded(voxpace_sources::Container::Mp3)
        );
        assert_eq!(
            parse_content_type(Some("Audio/Ogg; codecs=opus")).unwrap(),
            Wire::Coded(voxpace_sources::Container::Ogg)
        );
        for bad in [
            "text/plain",
            "audio/L16",
            "audio/L16;rate=16000;channels=3",
            "audio/pcm;rate=x",
            "video/mp4",
        ] {
            let e = parse_content_type(Some(bad)).unwrap_err();
            assert_eq!(e.status.as_u16(), 415, "{bad}");
            if !bad.starts_with("audio/") {
                for accepted in [
                    "audio/L16",
                    "audio/wav",
                    "audio/mpeg",
                    "audio/ogg",
                    "audio/mp4",
                ] {
                    assert!(e.message.contains(accepted), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn wav_stream_split_anywhere_converts_the_same() {
        let mut bytes = Vec::new();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 24_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut bytes), spec).unwrap();
            for i in 0..1000i16 {
                w.write_sample(i).unwrap();
                w.write_sample(-i).unwrap();
            }
            w.finalize().unwrap();
        }
        let mut c = Converter::new(Wire::Wav, Format::default());
        let mut out = Vec::new();
        for chunk in bytes.chunks(7) {
            c.feed(chunk, &mut out).unwrap();
        }
        c.finish(&mut out).unwrap();
        assert_eq!(out, vec![0i16; 1000], "stereo (i, -i) averages to mono 0");
    }

    #[test]
    fn a_wav_stream_ends_with_its_data_chunk() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 24_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = Vec::new();
        {
            let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut bytes), spec).unwrap();
            for i in 0..100i16 {
                w.write_sample(i).unwrap();
            }
            w.finalize().unwrap();
        }
        // A LIST chunk after the data, as many editors write: metadata, not noise.
        bytes.extend_from_slice(b"LIST\x0a\0\0\0INFOISFT\x01\0");
        let mut c = Converter::new(Wire::Wav, Format::default());
        let mut out = Vec::new();
        for chunk in bytes.chunks(5) {
            c.feed(chunk, &mut out).unwrap();
        }
        c.finish(&mut out).unwrap();
        assert_eq!(out, (0..100).collect::<Vec<i16>>());
    }

    #[test]
    fn odd_length_pcm_is_reported_at_finish() {
        let wire = parse_content_type(Some("audio/L16;rate=24000;channels=1")).unwrap();
        let mut c = Converter::new(wire, Format::default());
        let mut out = Vec::new();
        c.feed(&[1, 0, 2], &mut out).unwrap();
        c.feed(&[0, 3], &mut out).unwrap();
        assert_eq!(out, vec![1, 2]);
        let e = c.finish(&mut out).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("1 byte"), "{}", e.message);
    }
}
