// What the pages share while the dashboard runs: the controller's clock, the chosen
// period, the providers, the moves already shown and the refresh tick. The overview
// (app.js) writes it; every page reads it. It lives apart so that no page has to
// import another page to reach it.

export const state = { now: Date.now() / 1000, period: 3600, providers: [], seen: new Set(), tick: 0 };

// The series step for a period: about 180 points, in whole minutes.
export function stepFor(period) {
  return Math.max(60, Math.round(period / 180 / 60) * 60);
}
