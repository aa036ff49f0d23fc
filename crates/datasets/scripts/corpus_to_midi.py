"""Exports classical scores from the music21 corpus to piano MIDI files, for the audio
stand-in (run by `prepare`; the rendering and encoding are done in Rust).

    python3 corpus_to_midi.py OUT_DIR MAX_WORKS

Works are taken in a fixed order (Bach, Mozart, Haydn, Beethoven; each composer's corpus
paths sorted), every part set to the acoustic grand piano. A score that music21 cannot
parse or export is skipped with a message.
"""
import os
import re
import sys

from music21 import corpus, instrument, midi


def main():
    out, limit = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    paths = []
    for composer in ("bach", "mozart", "haydn", "beethoven"):
        paths += [(composer, str(p)) for p in sorted(corpus.getComposer(composer), key=str)]
    written = 0
    for composer, path in paths:
        if written >= limit:
            break
        stem = re.sub(r"[^A-Za-z0-9]+", "_", os.path.splitext(os.path.basename(path))[0])
        target = os.path.join(out, f"{composer}_{stem}.mid")
        if os.path.exists(target):
            written += 1
            continue
        try:
            score = corpus.parse(path)
            for part in score.parts:
                part.insert(0, instrument.Piano())
            mf = midi.translate.streamToMidiFile(score)
            mf.open(target + ".tmp", "wb")
            mf.write()
            mf.close()
            os.replace(target + ".tmp", target)
            written += 1
        except Exception as e:  # a score music21 cannot handle: skip it
            print(f"skipped {path}: {e}", file=sys.stderr)
    print(f"{written} MIDI files in {out}")


if __name__ == "__main__":
    main()
