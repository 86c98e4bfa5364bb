#!/usr/bin/env bash
# Regenerates the example audio shipped with voxpace-runtime (committed, so nobody needs these
# tools to run the examples). Needs Debian's espeak-ng, sox: `apt-get install espeak-ng sox`.
# Deterministic: sox is given a fixed seed (-R) and espeak-ng has no randomness.
#   bash runtime/assets/make-assets.sh
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Two short replies, as a TTS engine would produce them: 24 kHz mono s16.
espeak-ng -v en-us -s 165 -w "$tmp/hello.wav" \
  "Hello! I am your voice agent. You can interrupt me at any time."
sox -R "$tmp/hello.wav" -r 24000 -c 1 -b 16 speech.wav norm -3
espeak-ng -v en-us -s 165 -w "$tmp/more.wav" \
  "Sure. Here is the weather for tomorrow: sunny, with a light breeze."
sox -R "$tmp/more.wav" -r 24000 -c 1 -b 16 speech2.wav norm -3

# A four-second music loop (a soft two-chord pad), seamless: whole cycles, short fades.
sox -R -n -r 24000 -c 1 -b 16 "$tmp/a.wav" synth 2 sine 220 sine 277.18 sine 329.63 \
  remix 1,2,3 tremolo 2 40 fade t 0.05 2 0.05
sox -R -n -r 24000 -c 1 -b 16 "$tmp/b.wav" synth 2 sine 196 sine 246.94 sine 293.66 \
  remix 1,2,3 tremolo 2 40 fade t 0.05 2 0.05
sox -R "$tmp/a.wav" "$tmp/b.wav" music.wav norm -6

# A one-shot notification clip.
sox -R -n -r 24000 -c 1 -b 16 ding.wav synth 0.35 sine 1318.5 fade q 0.005 0.35 0.3 norm -8
ls -l speech.wav speech2.wav music.wav ding.wav
