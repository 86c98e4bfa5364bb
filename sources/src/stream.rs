//! Reply audio in any format the sources decode, decoded while its bytes are still arriving
//! (an HTTP body, a TTS stream), with back-pressure from the track's intake to the bytes.
//!
//! symphonia pulls its input through `Read`, so the decoding runs on a thread of its own:
//!
//! ```text
//! producer task            pipe (≤ 8 × 4 KiB)        decoder thread               ≤ 4 blocks
//! StreamInput::feed ──────▶ [Bytes pieces] ──▶ PipeSource: Read ─▶ FileDecoder (symphonia,
//!  (waits for room)                              (blocks for bytes)  Downmix, gapless trim)
//!                                                                   ─▶ StreamResampler ─▶ i16
//! StreamOutput::recv ◀──────────────────────── [Decoded: Opened, Samples, Damaged, Finished]
//! ```
//!
//! Both channels are bounded, so a producer that pushes what [`StreamOutput::recv`] returns
//! into a `ReplyWriter` (which waits while the intake is full) reads its input no faster than
//! the track plays it: the decoder blocks on a full output, stops reading the pipe, the pipe
//! fills, and [`StreamInput::feed`] waits. The thread ends when the stream ends, fails, or
//! either end is dropped.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use symphonia::core::io::MediaSource;
use tokio::sync::mpsc;
use voxpace_core::Format;

use crate::decode::{FileDecoder, FileInfo};
use crate::gapless;
use crate::reply::push_i16;
use crate::resample::StreamResampler;
use crate::Error;

/// Bytes per piece handed to the decoder thread (larger input chunks are split).
const PIECE: usize = 4 * 1024;
/// Pieces the pipe holds: at most 32 KiB of input wait for the decoder (plus symphonia's own
/// read-ahead buffer of 64 KiB).
const PIPE_PIECES: usize = 8;
/// Decoded blocks waiting for the producer.
const OUT_BLOCKS: usize = 4;
/// How much of a streamed MP4's start is kept to find its `moov` box (for the gapless trim).
const MAX_MP4_PREFIX: usize = 1 << 20;

/// What a stream of reply audio is, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Container {
    /// MPEG audio (MP3): `audio/mpeg`.
    Mp3,
    /// FLAC: `audio/flac`.
    Flac,
    /// Ogg with Vorbis or Opus (Opus needs the `opus` feature): `audio/ogg`.
    Ogg,
    /// AAC in ADTS frames: `audio/aac`.
    Adts,
    /// MP4/M4A (AAC); its `moov` box must come before the media data (`faststart`), as
    /// every streamed MP4 has it: `audio/mp4`.
    Mp4,
    /// WAV of any sample format symphonia reads: `audio/wav` (the runtime parses 16-bit
    /// PCM WAV itself).
    Wav,
}

impl Container {
    /// The media types [`Container::from_mime`] knows, one per container (aliases aside).
    pub const MIME_TYPES: &'static [&'static str] = &[
        "audio/mpeg",
        "audio/flac",
        "audio/ogg",
        "audio/aac",
        "audio/mp4",
    ];

    /// The container of a media type (without parameters, any case); `None` when it is not
    /// one of these: `audio/mpeg` (`audio/mp3`), `audio/flac` (`audio/x-flac`), `audio/ogg`
    /// (`audio/opus`, `audio/vorbis`, `application/ogg`), `audio/aac` (`audio/aacp`,
    /// `audio/x-aac`), `audio/mp4` (`audio/m4a`, `audio/x-m4a`), `audio/wav` and its aliases.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let mime = mime.trim().to_ascii_lowercase();
        Some(match mime.as_str() {
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg" => Self::Mp3,
            "audio/flac" | "audio/x-flac" => Self::Flac,
            "audio/ogg" | "audio/opus" | "audio/vorbis" | "application/ogg" => Self::Ogg,
            "audio/aac" | "audio/aacp" | "audio/x-aac" => Self::Adts,
            "audio/mp4" | "audio/m4a" | "audio/x-m4a" => Self::Mp4,
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Self::Wav,
            _ => return None,
        })
    }

    /// The media type it is named by in messages.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Flac => "audio/flac",
            Self::Ogg => "audio/ogg",
            Self::Adts => "audio/aac",
            Self::Mp4 => "audio/mp4",
            Self::Wav => "audio/wav",
        }
    }

    /// The file extension symphonia's probe is hinted with.
    fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Ogg => "ogg",
            Self::Adts => "aac",
            Self::Mp4 => "m4a",
            Self::Wav => "wav",
        }
    }
}

/// What the decoder thread reports, in order: `Opened` once, then `Samples` and `Damaged`
/// as the stream goes, then `Finished` last.
#[derive(Debug)]
#[non_exhaustive]
pub enum Decoded {
    /// The stream's headers were read and its first packet decoded: what it is.
    Opened(FileInfo),
    /// Interleaved 16-bit samples in the track's format (about a packet's worth).
    Samples(Vec<i16>),
    /// Damage was skipped (decoding goes on past it), `at` this much of the stream's audio.
    Damaged {
        /// Decoded audio before the damage.
        at: Duration,
        /// What was wrong ([`Error::Corrupt`]).
        error: Error,
    },
    /// The stream ended: `Ok` at its regular end (the input was closed, or the container
    /// ended), or the error that stopped it (not audio, unsupported, truncated, corrupt).
    /// Everything decoded before it came as `Samples`.
    Finished(Result<(), Error>),
}

/// Start decoding a stream of `container` audio into `format` on a thread of its own.
/// `name` names the stream in errors (e.g. "reply 3 body"). Feed bytes with the returned
/// [`StreamInput`], take audio from the [`StreamOutput`].
pub fn decode_stream(
    container: Container,
    format: Format,
    name: &str,
) -> Result<(StreamInput, StreamOutput), Error> {
    let (bytes_tx, bytes_rx) = mpsc::channel(PIPE_PIECES);
    let (out_tx, out_rx) = mpsc::channel(OUT_BLOCKS);
    let path = PathBuf::from(format!("{name} ({})", container.mime()));
    std::thread::Builder::new()
        .name("voxpace-stream-decode".into())
        .spawn(move || run(container, format, &path, PipeSource::new(bytes_rx), out_tx))
        .map_err(|e| Error::Io {
            path: PathBuf::from(name),
            message: format!("cannot start a decoder thread: {e}"),
        })?;
    Ok((
        StreamInput {
            tx: Some(bytes_tx),
            pending: Bytes::new(),
        },
        StreamOutput { rx: out_rx },
    ))
}

/// The input end: bytes of the stream, in order, as they arrive.
#[derive(Debug)]
pub struct StreamInput {
    tx: Option<mpsc::Sender<Bytes>>,
    /// Bytes taken but not yet handed to the decoder.
    pending: Bytes,
}

impl StreamInput {
    /// Whether bytes given by [`put`](Self::put) still wait for [`feed`](Self::feed).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Take the next bytes of the stream; [`feed`](Self::feed) hands them over. Call it only
    /// when nothing is pending (the bytes would otherwise be appended, copying).
    pub fn put(&mut self, bytes: Bytes) {
        if self.pending.is_empty() {
            self.pending = bytes;
        } else {
            let mut joined = Vec::with_capacity(self.pending.len() + bytes.len());
            joined.extend_from_slice(&self.pending);
            joined.extend_from_slice(&bytes);
            self.pending = joined.into();
        }
    }

    /// Wait until the decoder has room, then hand it the next piece (≤ 4 KiB) of the
    /// pending bytes. Cancel-safe: nothing is lost when the future is dropped while waiting.
    /// `false` when the decoder takes no more input (it finished or failed: its
    /// [`Decoded::Finished`] says how); the pending bytes are dropped then.
    pub async fn feed(&mut self) -> bool {
        let Some(tx) = &self.tx else {
            self.pending.clear();
            return false;
        };
        let gone = match tx.reserve().await {
            Ok(permit) => {
                let n = self.pending.len().min(PIECE);
                permit.send(self.pending.split_to(n));
                false
            }
            Err(_) => true,
        };
        if gone {
            self.pending.clear();
            self.tx = None;
        }
        !gone
    }

    /// [`feed`](Self::feed) for a thread outside any async runtime (it blocks).
    pub(crate) fn blocking_feed(&mut self) -> bool {
        let Some(tx) = &self.tx else {
            self.pending.clear();
            return false;
        };
        let n = self.pending.len().min(PIECE);
        if tx.blocking_send(self.pending.split_to(n)).is_err() {
            self.pending.clear();
            self.tx = None;
            return false;
        }
        true
    }

    /// The end of the stream (pending bytes are dropped: feed them first). The decoder
    /// decodes what it has, then finishes.
    pub fn close(&mut self) {
        self.pending.clear();
        self.tx = None;
    }
}

/// The output end: what the decoder thread made of the stream.
#[derive(Debug)]
pub struct StreamOutput {
    rx: mpsc::Receiver<Decoded>,
}

impl StreamOutput {
    /// The next report; `None` after [`Decoded::Finished`]. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Decoded> {
        self.rx.recv().await
    }

    /// [`recv`](Self::recv) for a thread outside any async runtime.
    pub fn blocking_recv(&mut self) -> Option<Decoded> {
        self.rx.blocking_recv()
    }
}

/// The decoder thread: open, then decode, resample and send block by block.
fn run(
    container: Container,
    format: Format,
    path: &Path,
    mut source: PipeSource,
    out: mpsc::Sender<Decoded>,
) {
    let send = |d: Decoded| out.blocking_send(d).is_ok();
    let channels = format.channels() as usize;
    let window = if container == Container::Mp4 {
        source.mp4_window()
    } else {
        None
    };
    let ext = Some(container.extension());
    let mut decoder = match FileDecoder::open_stream(path, Box::new(source), ext, channels, window)
    {
        Ok(d) => d,
        Err(e) => {
            send(Decoded::Finished(Err(e)));
            return;
        }
    };
    let in_rate = decoder.sample_rate();
    let chunk = crate::reply::reply_chunk(in_rate);
    let mut resampler = match StreamResampler::new(in_rate, format.sample_rate(), channels, chunk) {
        Ok(r) => r,
        Err(e) => {
            send(Decoded::Finished(Err(e)));
            return;
        }
    };
    if !send(Decoded::Opened(decoder.info.clone())) {
        return;
    }
    let block_len = format.frame_len();
    let mut samples: Vec<i16> = Vec::with_capacity(block_len * 2);
    let mut block = Vec::new();
    loop {
        block.clear();
        let more = decoder.next_block(&mut block);
        let damage = decoder.take_damage();
        if !damage.is_empty() && !samples.is_empty() {
            // What decoded before the damage goes first, so reports land where they belong.
            if !send(Decoded::Samples(std::mem::take(&mut samples))) {
                return;
            }
        }
        for d in damage {
            if !send(Decoded::Damaged {
                at: d.at,
                error: d.error,
            }) {
                return;
            }
        }
        let end = match more {
            Ok(true) => {
                resampler.push(&block, &mut |o| push_i16(&mut samples, o));
                None
            }
            Ok(false) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        };
        if let Some(result) = end {
            resampler.flush(&mut |o| push_i16(&mut samples, o));
            if !samples.is_empty() && !send(Decoded::Samples(samples)) {
                return;
            }
            send(Decoded::Finished(result));
            return;
        }
        if samples.len() >= block_len
            && !send(Decoded::Samples(std::mem::replace(
                &mut samples,
                Vec::with_capacity(block_len * 2),
            )))
        {
            return;
        }
    }
}

/// The decoder's `Read`: pieces from the pipe, blocking until the next one arrives; the end
/// of input when the [`StreamInput`] is closed or dropped. Not seekable, except while an
/// MP4's start is being looked through (see [`PipeSource::mp4_window`]).
#[derive(Debug)]
struct PipeSource {
    rx: mpsc::Receiver<Bytes>,
    piece: Bytes,
    /// The bytes read while recording (an MP4's start), replayed from `replay` on.
    kept: Vec<u8>,
    replay: usize,
    recording: bool,
}

impl PipeSource {
    fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            piece: Bytes::new(),
            kept: Vec::new(),
            replay: 0,
            recording: false,
        }
    }

    /// Read the MP4 gapless window from the start of the stream (its `moov` box, when it
    /// comes first, as in any streamable MP4), keeping what was read so the demuxer reads it
    /// again. At most 1 MiB is kept; an MP4 whose `moov` comes later plays untrimmed (and
    /// symphonia refuses it as a stream anyway).
    fn mp4_window(&mut self) -> Option<gapless::Window> {
        self.recording = true;
        let window = gapless::read_mp4(self);
        self.recording = false;
        self.replay = 0;
        window
    }

    /// Read from the pipe only (no replay).
    fn read_pipe(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.piece.is_empty() {
            match self.rx.blocking_recv() {
                Some(piece) => self.piece = piece,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }

    /// While recording: make sure `upto` bytes are kept (fewer at the end of the stream).
    fn keep_until(&mut self, upto: usize) -> std::io::Result<()> {
        if upto > MAX_MP4_PREFIX {
            return Err(std::io::Error::other("beyond the kept start of the stream"));
        }
        let mut buf = [0u8; 4096];
        while self.kept.len() < upto {
            let want = (upto - self.kept.len()).min(buf.len());
            let n = self.read_pipe(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            self.kept.extend_from_slice(&buf[..n]);
        }
        Ok(())
    }
}

impl Read for PipeSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.recording {
            self.keep_until(self.replay + buf.len())?;
        }
        if self.replay < self.kept.len() {
            let n = buf.len().min(self.kept.len() - self.replay);
            buf[..n].copy_from_slice(&self.kept[self.replay..self.replay + n]);
            self.replay += n;
            if !self.recording && self.replay == self.kept.len() {
                self.kept = Vec::new();
                self.replay = 0;
            }
            return Ok(n);
        }
        if self.recording {
            return Ok(0);
        }
        self.read_pipe(buf)
    }
}

impl Seek for PipeSource {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let unsupported =
            || std::io::Error::new(std::io::ErrorKind::Unsupported, "a stream cannot be sought");
        if !self.recording {
            return Err(unsupported());
        }
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => (self.replay as u64).checked_add_signed(d),
            SeekFrom::End(_) => None,
        }
        .ok_or_else(unsupported)?;
        let target = usize::try_from(target).map_err(|_| unsupported())?;
        self.keep_until(target)?;
        self.replay = target.min(self.kept.len());
        Ok(self.replay as u64)
    }
}

impl MediaSource for PipeSource {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(Container::from_mime("Audio/MPEG"), Some(Container::Mp3));
        assert_eq!(Container::from_mime("audio/opus"), Some(Container::Ogg));
        assert_eq!(Container::from_mime("audio/x-m4a"), Some(Container::Mp4));
        assert_eq!(Container::from_mime("text/plain"), None);
        for m in Container::MIME_TYPES {
            assert_eq!(Container::from_mime(m).unwrap().mime(), *m);
        }
    }

    #[test]
    fn the_pipe_replays_the_start_it_kept_and_then_streams() {
        let (tx, rx) = mpsc::channel(16);
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        for piece in data.chunks(3000) {
            tx.blocking_send(Bytes::copy_from_slice(piece)).unwrap();
        }
        drop(tx);
        let mut pipe = PipeSource::new(rx);
        pipe.recording = true;
        pipe.seek(SeekFrom::Start(5000)).unwrap();
        let mut four = [0u8; 4];
        pipe.read_exact(&mut four).unwrap();
        assert_eq!(four, [136, 137, 138, 139]); // 5000 % 256 = 136
        pipe.seek(SeekFrom::Start(0)).unwrap();
        pipe.recording = false;
        let mut all = Vec::new();
        pipe.read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
        assert!(pipe.seek(SeekFrom::Start(0)).is_err());
    }
}
