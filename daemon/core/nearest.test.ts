import { describe, expect, it } from 'vitest';
import { didYouMean, nearestName } from './nearest.js';

describe('nearestName', () => {
  it('finds the name a typo meant, and nothing for a name far from all', () => {
    expect(nearestName('leakr', ['healthy', 'leaker', 'crasher'])).toBe('leaker');
    expect(nearestName('board.temp_c', ['load_average', 'temperature_celsius'])).toBe('temperature_celsius');
    expect(nearestName('x', ['healthy', 'leaker'])).toBeUndefined();
    expect(nearestName('turbo', ['normal', 'degraded', 'safe'])).toBeUndefined();
    expect(nearestName('temp', ['temperature_celsius'])).toBe('temperature_celsius');
    expect(didYouMean('safe-mode', ['normal', 'safe'])).toBe('; did you mean "safe"?');
    expect(didYouMean('nothing', [])).toBe('');
  });
});
