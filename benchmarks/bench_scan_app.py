"""scan-app on a generated 3,000-file Next.js app: prints the scan time (and the patch build time).

    .venv/bin/python benchmarks/bench_scan_app.py            # a tenth of the files touch auth
    .venv/bin/python benchmarks/bench_scan_app.py --all-auth # every file mentions session/auth in a comment
    .venv/bin/python benchmarks/bench_scan_app.py --all-import  # worst case: every file imports next-auth

Files are ~5.5 KB TSX components (JSX, hooks, props); the auth ones import from next-auth/react,
call useSession(), read session.user, or call getServerSession() in server pages. Nothing is
timed in the test suite; this prints figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.appscan import scan_app  # noqa: E402
from console.appscan.patch import build_patch  # noqa: E402

PLAIN = '''import {{ useState }} from "react";
import {{ Button }} from "@/components/ui/button";

type Props{n} = {{ title: string; items: string[]; onPick?: (value: string) => void }};

export function Widget{n}({{ title, items, onPick }}: Props{n}) {{
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const visible = items.filter((item) => item.toLowerCase().includes(query.toLowerCase()));
  return (
    <section className="rounded border p-4">
      <h2 className="text-lg font-semibold">{{title}}</h2>
      <input value={{query}} onChange={{(e) => setQuery(e.target.value)}} placeholder="Filter" />
      <Button onClick={{() => setOpen(!open)}}>{{open ? "Hide" : "Show"}} ({{visible.length}})</Button>
      {{open && (
        <ul>
          {{visible.map((item) => (
            <li key={{item}}>
              <button onClick={{() => onPick?.(item)}}>{{item}}</button>
            </li>
          ))}}
        </ul>
      )}}
    </section>
  );
}}
'''
CLIENT_AUTH = '''"use client";
import {{ useSession, signOut }} from "next-auth/react";

export function Account{n}() {{
  const {{ data: session, status }} = useSession();
  if (status === "loading") return null;
  return session ? <button onClick={{() => signOut()}}>{{session.user?.name}}</button> : null;
}}
'''
SERVER_AUTH = '''import {{ getServerSession }} from "next-auth/next";
import {{ authOptions }} from "@/lib/auth";

export default async function Page{n}() {{
  const session = await getServerSession(authOptions);
  return <main>{{session ? session.user?.email : "signed out"}}</main>;
}}
'''
MENTIONS = "// session tokens are read by the auth layer; this component only renders\n"
IMPORTS = 'import type {{ Session }} from "next-auth";\nexport type Viewer{n} = Session | null;\n'


def build(root: Path, files: int, all_auth: bool, all_import: bool = False) -> int:
    (root / "package.json").write_text('{"dependencies": {"next": "15.3.0", "next-auth": "^4.24.7", "react": "19.0.0"}}')
    (root / "tsconfig.json").write_text('{"compilerOptions": {"paths": {"@/*": ["./*"]}}}')
    (root / "lib").mkdir()
    (root / "lib" / "auth.ts").write_text(
        'import type { NextAuthOptions } from "next-auth";\nexport const authOptions: NextAuthOptions = { providers: [] };\n')
    total = 0
    for n in range(files):
        folder = root / "components" / f"group{n // 100}"
        if n % 10 == 0:
            text = (CLIENT_AUTH if n % 20 == 0 else SERVER_AUTH).format(n=n) + PLAIN.format(n=n) * 4
            if n % 20:
                folder = root / "app" / f"page{n}"
        else:
            text = (MENTIONS if all_auth else "") + (IMPORTS.format(n=n) if all_import else "") + PLAIN.format(n=n) * 6
        folder.mkdir(parents=True, exist_ok=True)
        name = "page.tsx" if folder.parent.name == "app" else f"widget{n}.tsx"
        (folder / name).write_text(text)
        total += len(text)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--all-auth", action="store_true", help="every file mentions auth words")
    parser.add_argument("--all-import", action="store_true", help="every file imports a type from next-auth")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        size = build(root, args.files, args.all_auth, args.all_import)
        runs, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            report = scan_app(root)
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        patch = build_patch(report)
        patch_s = time.perf_counter() - t0
        print(f"{report.files_scanned} files, {size / 1e6:.1f} MB, {report.files_parsed} parsed by tree-sitter, "
              f"{len(report.findings)} findings")
        print(f"scan: best {min(runs):.2f} s, worst {max(runs):.2f} s of {len(runs)} runs "
              f"(CPU {min(cpu):.2f}-{max(cpu):.2f} s: wall time includes waiting for a shared core)")
        print(f"patch: {patch_s:.2f} s, {len(patch.files)} files, {len(patch.left)} touch points left")
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
              + f" on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
