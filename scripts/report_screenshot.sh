#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium, as a person sees it:
# a PNG screenshot and a printed PDF, and checks that the page rendered
# (the DOM holds the model card and its plots, the screenshot is not blank,
# the PDF has pages). Used by CI on the default run.
#
#   scripts/report_screenshot.sh RUN_DIR [OUT_PREFIX]
#
# writes OUT_PREFIX.png and OUT_PREFIX.pdf (default: RUN_DIR/report).
set -euo pipefail
run_dir=${1:?usage: scripts/report_screenshot.sh RUN_DIR [OUT_PREFIX]}
out=${2:-$run_dir/report}
page="$(cd "$run_dir" && pwd)/report.html"
[ -f "$page" ] || { echo "error: no report.html in $run_dir" >&2; exit 1; }

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
[ -n "$browser" ] || { echo "error: no Chromium found: apt-get install chromium" >&2; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions)

dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$page" 2>/dev/null)
svgs=$(grep -o "<svg" <<<"$dom" | wc -l)
grep -q "Model card" <<<"$dom" || { echo "error: the rendered page has no model card" >&2; exit 1; }
[ "$svgs" -ge 3 ] || { echo "error: the rendered page has $svgs plots, expected at least 3" >&2; exit 1; }

timeout 120 "$browser" "${flags[@]}" --window-size=1200,6000 --screenshot="$out.png" "file://$page" >/dev/null 2>&1
timeout 120 "$browser" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$out.pdf" "file://$page" >/dev/null 2>&1

png_bytes=$(stat -c %s "$out.png")
[ "$(head -c 8 "$out.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "error: $out.png is not a PNG" >&2; exit 1; }
# a blank 1200x6000 page compresses to under 40 kB; the default run's report to about 400 kB
[ "$png_bytes" -gt 120000 ] || { echo "error: $out.png is $png_bytes bytes: the page looks blank" >&2; exit 1; }
pages=$(grep -ac "/Type /Page\b" "$out.pdf" || true)
[ "$pages" -ge 1 ] || { echo "error: $out.pdf has no pages" >&2; exit 1; }
echo "rendered $page: $svgs plots; $out.png ($png_bytes bytes), $out.pdf ($pages pages)"
