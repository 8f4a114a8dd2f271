#!/bin/bash
# Install the real AI coding tools from the npm registry into a cache directory,
# the way people install them, so the integration tests can use them as test
# subjects. Idempotent: does nothing (but print versions) when already there.
#
#   tests/tools/fetch-ai-tools.sh [DIR]     (default: $TG_TOOLS_DIR or
#                                            /var/cache/toolguard-tests/npm)
#
# Afterwards DIR/node_modules/.bin/claude (native binary) and
# DIR/node_modules/.bin/qwen (node script; needs node >= 20) answer --version
# offline. Exit 0 when claude works (qwen is reported, not required: tests
# that need it skip); 1 otherwise.
set -uo pipefail

dir=${1:-${TG_TOOLS_DIR:-/var/cache/toolguard-tests/npm}}
packages=(@anthropic-ai/claude-code @qwen-code/qwen-code)
bin=$dir/node_modules/.bin

works() { [ -x "$1" ] && timeout 60 "$1" --version >/dev/null 2>&1; }
version() { [ -x "$1" ] && timeout 60 "$1" --version 2>/dev/null | head -n1; }

claude_v=$(version "$bin/claude")
qwen_v=$(version "$bin/qwen")
# (qwen installed but not running is node's fault, not the install's)
if [ -z "$claude_v" ] || [ ! -e "$bin/qwen" ]; then
	if ! command -v npm >/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			echo "fetch-ai-tools: npm not found: installing Debian's nodejs and npm"
			apt-get install -y -q --no-install-recommends nodejs npm >/dev/null ||
				echo "fetch-ai-tools: apt-get install nodejs npm failed" >&2
		fi
		command -v npm >/dev/null || {
			echo "fetch-ai-tools: npm not found: install it (apt-get install nodejs npm)" >&2
			exit 1
		}
	fi
	mkdir -p "$dir" || exit 1
	echo "fetch-ai-tools: installing ${packages[*]} into $dir"
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${packages[@]}" ||
		echo "fetch-ai-tools: npm install failed (see above)" >&2
	# claude-code's postinstall places bin/claude.exe (a hardlink to the
	# platform package's binary); if install scripts did not run, link it.
	exe=$dir/node_modules/@anthropic-ai/claude-code/bin/claude.exe
	if ! works "$exe"; then
		for plat in "$dir"/node_modules/@anthropic-ai/claude-code-linux-*/claude; do
			works "$plat" || continue
			ln -f "$plat" "$exe" 2>/dev/null || cp -f "$plat" "$exe"
			break
		done
	fi
	claude_v=$(version "$bin/claude")
	qwen_v=$(version "$bin/qwen")
fi

if [ -z "$claude_v" ]; then
	echo "fetch-ai-tools: $bin/claude --version does not work; see $dir" >&2
	exit 1
fi
echo "claude: $claude_v ($(readlink -f "$bin/claude"))"
if [ -n "$qwen_v" ]; then
	echo "qwen: $qwen_v ($(readlink -f "$bin/qwen"))"
else
	echo "qwen: does not run here (node $(node --version 2>/dev/null || echo missing); it needs node >= 20): tests that need it skip" >&2
fi
exit 0
