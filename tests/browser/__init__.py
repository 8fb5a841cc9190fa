"""Browser tests: headless Chromium driven by Playwright against `replyguard run`."""
