"""The market: equations, parameters and market files, the period kernel, presets, synth."""
