// Drives Replyguard's Akismet-compatible API with a real Akismet client (@cedx/akismet),
// pointed at our server through its `baseUrl` option, and prints one JSON object with
// what each call returned. Run by tests/integration/test_akismet_client.py.
//
// Input (environment, so the key never shows in a process list):
//   AKISMET_BASE_URL  the Replyguard server, e.g. http://127.0.0.1:8123
//   AKISMET_KEY       a Replyguard API token of the site (moderator role)
//   AKISMET_BLOG      the site's front page URL
//   SPAM_WORD         a word on the site's disallowed list (makes a comment certain spam)
//   ROUNDS            how many extra comment checks to time (0: none)

import { env, exit, stdout } from "node:process";
import { performance } from "node:perf_hooks";
import { Author, Blog, CheckResult, Client, Comment } from "@cedx/akismet";

const names = Object.fromEntries(Object.entries(CheckResult).map(([name, value]) => [value, name]));

// The client has no option for Akismet's honeypot fields, so a comment that adds them to
// what it sends: `honeypot_field_name` and the named hidden field's value.
class HoneypotComment extends Comment {
	constructor(options, honeypotValue) {
		super(options);
		this.honeypotValue = honeypotValue;
	}

	toJSON() {
		return { ...super.toJSON(), honeypot_field_name: "hp_url", hp_url: this.honeypotValue };
	}
}

function required(name) {
	const value = env[name];
	if (!value) {
		console.error(`missing environment variable ${name}`);
		exit(2);
	}
	return value;
}

async function outcome(call) {
	try {
		const value = await call();
		return { ok: true, value: value === undefined ? null : value };
	}
	catch (error) {
		return { ok: false, error: String(error?.message ?? error) };
	}
}

const baseUrl = required("AKISMET_BASE_URL");
const blog = new Blog({ url: required("AKISMET_BLOG"), charset: "UTF-8", languages: ["en"] });
const client = new Client(required("AKISMET_KEY"), blog, { baseUrl });
const stranger = new Client("rgt_not-a-real-token", blog, { baseUrl });
const spamWord = required("SPAM_WORD");
const rounds = Number.parseInt(env.ROUNDS ?? "0", 10);

const reader = new Author({
	email: "reader@example.org",
	ipAddress: "198.51.100.23",
	name: "A Reader",
	userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
});
const ham = new Comment({
	author: reader,
	content: "Thank you for this careful reporting on the council vote.",
	date: new Date(),
	permalink: `${blog.url.href}2026/council-vote`,
	type: "comment"
});
const spam = new Comment({
	author: new Author({ ipAddress: "192.0.2.44", name: "Best Deals", email: "deals@example.com" }),
	content: `Great post! Visit us for ${spamWord} at half price.`,
	permalink: `${blog.url.href}2026/council-vote`,
	type: "comment"
});
const honeypot = new HoneypotComment({ author: reader, content: "Hello there.", type: "comment" }, "http://bot.example");

const check = async comment => names[await client.checkComment(comment)];
const results = {
	verifyKey: await outcome(() => client.verifyKey()),
	verifyWrongKey: await outcome(() => stranger.verifyKey()),
	checkHam: await outcome(() => check(ham)),
	checkSpam: await outcome(() => check(spam)),
	checkHoneypot: await outcome(() => check(honeypot)),
	checkWrongKey: await outcome(() => stranger.checkComment(ham)),
	submitSpam: await outcome(() => client.submitSpam(spam)),
	submitHam: await outcome(() => client.submitHam(ham))
};

if (rounds > 0) {
	const timings = [];
	for (let round = 0; round < rounds; round++) {
		const started = performance.now();
		await client.checkComment(round % 2 ? ham : spam);
		timings.push(performance.now() - started);
	}
	timings.sort((a, b) => a - b);
	const rank = fraction => timings[Math.max(0, Math.ceil(fraction * timings.length) - 1)];
	results.timing = { rounds, p50_ms: rank(0.5), p95_ms: rank(0.95), max_ms: timings.at(-1) };
}

stdout.write(`${JSON.stringify(results)}\n`);
