//! Plans: normalization, ownership-aware diff, upgrade impact and risks of a Git change, and their renderers.
