// Every test file runs under umask 022, whatever the shell that ran
// `npm test` had (0002 is common where each user has a group of its own):
// tests that make directories and then walk them under the directory rule
// (files/state-dirs.ts: nothing writable by group or others) would
// otherwise see their own directories refused. Tests of a hostile shell set
// the umask they want in that shell themselves.
process.umask(0o022)
