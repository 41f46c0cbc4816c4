#!/usr/bin/env node
// Thin launcher: the program lives in the compiled dist/src/main.js (npm run build).
import '../dist/src/main.js';
