#!/bin/bash
# Install the real AI coding tools from the npm registry into a cache directory,
# the way people install them, so the integration tests can use them as test
# subjects. Idempotent: does nothing (but print versions) when already there.
#
#   tests/tools/fetch-ai-tools.sh [DIR]     (default: $TG_TOOLS_DIR or
#                                            /var/cache/toolguard-tests/npm)
#
# Afterwards DIR/node_modules/.bin/claude and DIR/node_modules/.bin/qwen answer
# --version offline.
set -euo pipefail

dir=${1:-${TG_TOOLS_DIR:-/var/cache/toolguard-tests/npm}}
packages=(@anthropic-ai/claude-code @qwen-code/qwen-code)
bin=$dir/node_modules/.bin

have_tools() {
	[ -x "$bin/claude" ] && [ -x "$bin/qwen" ] &&
		timeout 60 "$bin/claude" --version >/dev/null 2>&1 &&
		timeout 60 "$bin/qwen" --version >/dev/null 2>&1
}

if ! have_tools; then
	command -v npm >/dev/null || {
		echo "fetch-ai-tools: npm not found: install it (apt-get install npm)" >&2
		exit 1
	}
	mkdir -p "$dir"
	echo "fetch-ai-tools: installing ${packages[*]} into $dir"
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "${packages[@]}"
	# claude-code's postinstall normally places bin/claude.exe; with install
	# scripts disabled the platform package still carries the binary: link it.
	exe=$dir/node_modules/@anthropic-ai/claude-code/bin/claude.exe
	if [ ! -s "$exe" ] || ! timeout 60 "$exe" --version >/dev/null 2>&1; then
		for plat in "$dir"/node_modules/@anthropic-ai/claude-code-linux-*/claude; do
			[ -x "$plat" ] || continue
			timeout 60 "$plat" --version >/dev/null 2>&1 || continue
			ln -f "$plat" "$exe" 2>/dev/null || cp -f "$plat" "$exe"
			break
		done
	fi
	have_tools || {
		echo "fetch-ai-tools: installed, but claude/qwen --version does not work; see $dir" >&2
		exit 1
	}
fi

claude_v=$(timeout 60 "$bin/claude" --version 2>/dev/null | head -n1)
qwen_v=$(timeout 60 "$bin/qwen" --version 2>/dev/null | head -n1)
echo "claude: $claude_v ($(readlink -f "$bin/claude"))"
echo "qwen: $qwen_v ($(readlink -f "$bin/qwen"))"
