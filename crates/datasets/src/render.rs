//! Rendering MIDI to audio with a General MIDI SoundFont (`rustysynth`), for the audio
//! stand-in: scores become piano recordings, then 12 kHz mu-law like any WAV.

use crate::audio::{mulaw_encode, resample, SAMPLE_RATE};
use crate::error::{bad, Result};
use rustysynth::{MidiFile, MidiFileSequencer, SoundFont, Synthesizer, SynthesizerSettings};
use std::path::Path;
use std::sync::Arc;

/// The synthesizer's output rate.
pub const RENDER_RATE: u32 = 44_100;

/// Loads a SoundFont 2 file.
pub fn load_soundfont(path: &Path) -> Result<Arc<SoundFont>> {
    let mut f = std::fs::File::open(path).map_err(|e| bad(path, e))?;
    Ok(Arc::new(SoundFont::new(&mut f).map_err(|e| bad(path, format!("not a valid SoundFont: {e:?}")))?))
}

/// Renders a Standard MIDI File to mono samples at [`RENDER_RATE`], peak-normalised to 0.9
/// (loud enough to use the mu-law codes well, never clipping), with a second of release at
/// the end.
pub fn render_midi(font: &Arc<SoundFont>, midi: &[u8], name: &Path) -> Result<Vec<f32>> {
    let midi = Arc::new(MidiFile::new(&mut std::io::Cursor::new(midi)).map_err(|e| bad(name, format!("not a valid MIDI file: {e:?}")))?);
    let settings = SynthesizerSettings::new(RENDER_RATE as i32);
    let synth = Synthesizer::new(font, &settings).map_err(|e| bad(name, format!("synthesizer: {e:?}")))?;
    let mut seq = MidiFileSequencer::new(synth);
    seq.play(&midi, false);
    let n = ((midi.get_length() + 1.0) * RENDER_RATE as f64) as usize;
    let (mut left, mut right) = (vec![0f32; n], vec![0f32; n]);
    seq.render(&mut left, &mut right);
    let mut mono: Vec<f32> = left.iter().zip(&right).map(|(l, r)| 0.5 * (l + r)).collect();
    let peak = mono.iter().fold(0f32, |m, x| m.max(x.abs()));
    if peak > 0.0 {
        mono.iter_mut().for_each(|x| *x *= 0.9 / peak);
    }
    Ok(mono)
}

/// A MIDI file as 12 kHz mu-law bytes.
pub fn midi_to_mulaw(font: &Arc<SoundFont>, midi: &[u8], name: &Path) -> Result<Vec<u8>> {
    Ok(mulaw_encode(&resample(&render_midi(font, midi, name)?, RENDER_RATE, SAMPLE_RATE)))
}

/// A format-0 Standard MIDI File playing `notes` (MIDI numbers) one after another on the
/// acoustic grand piano, each `ticks` long at 480 ticks per quarter, 120 bpm.
pub fn scale_midi(notes: &[u8], ticks: u32) -> Vec<u8> {
    fn vlq(mut v: u32, out: &mut Vec<u8>) {
        let mut bytes = vec![(v & 0x7F) as u8];
        v >>= 7;
        while v > 0 {
            bytes.push((v & 0x7F) as u8 | 0x80);
            v >>= 7;
        }
        out.extend(bytes.iter().rev());
    }
    let mut track = vec![0x00, 0xC0, 0x00]; // program change: piano
    for &n in notes {
        track.extend([0x00, 0x90, n, 96]); // note on
        vlq(ticks, &mut track);
        track.extend([0x80, n, 0]); // note off
    }
    track.extend([0x00, 0xFF, 0x2F, 0x00]); // end of track
    let mut out = b"MThd".to_vec();
    out.extend(6u32.to_be_bytes());
    out.extend([0, 0, 0, 1, 0x01, 0xE0]); // format 0, one track, 480 ticks per quarter
    out.extend(b"MTrk");
    out.extend((track.len() as u32).to_be_bytes());
    out.extend(track);
    out
}
