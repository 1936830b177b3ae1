"""Say up front whether the browser tests will run, so a skip is never silent."""

import os
import shutil

path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
if os.path.exists(path) or shutil.which("chromium"):
    print(f"Browser tests: running with {path}.")
else:
    print(
        f"Browser tests: SKIPPED, no Chromium at {path}. Install Debian's `chromium` package to run them "
        "(CI always does)."
    )
