"""callport.speech: STT/TTS behind small protocols, with embedded offline engines.

- ``base``: the STT / TTS protocols, Transcript, SpeechChunk, MissingSpeechDependency.
- ``text``: pure sentence/clause splitting and speech normalisation (numbers, times, money).
- ``whisper``: WhisperSTT (faster-whisper, bundled tiny.en, int8, one decode at a time).
- ``piper``: PiperTTS (GPL piper-tts, imported lazily inside functions only).
- ``espeak``: EspeakTTS (espeak-ng subprocess).
- ``factory``: make_stt / make_tts from settings, describe_speech_stack for ``callport doctor``.

Engine modules are imported by ``factory`` only when chosen; nothing here imports them.
"""
