"""The issue's quality targets checked on docs/results/*.json: per learned model and protocol, the PSNR gain
over Telea per case, how many cases reach +1 dB, SSIM >= Telea, and NME / identity distance below both baselines.

Run from the repository root: python3 docs/check_targets.py
"""
import json
from pathlib import Path

R = Path("docs/results")
for protocol in ("collagan-occlusions", "mde-occlusions", "irregular"):
    rows = []
    for kind in ("baselines", "learned"):
        p = R / f"{kind}-{protocol}.json"
        if p.exists(): rows += json.loads(p.read_text())["rows"]
    if not rows: continue
    cell = {(r["model"], r["case"]): r for r in rows}
    cases = list(dict.fromkeys(r["case"] for r in rows))
    print(f"== {protocol}")
    for m in ("collagan", "gfc", "mde", "pdgan"):
        if not any((m, c) in cell for c in cases): continue
        gains, ssim_ok, nme_ok, id_ok = [], 0, 0, 0
        for c in cases:
            r, t, pm = cell.get((m, c)), cell[("telea", c)], cell[("patchmatch", c)]
            if r is None: continue
            gains.append(r["psnr"] - t["psnr"]); ssim_ok += r["ssim"] >= t["ssim"]
            if r.get("landmark_nme") is not None:
                nme_ok += r["landmark_nme"] < min(t["landmark_nme"], pm["landmark_nme"])
                id_ok += r["identity_dist"] < min(t["identity_dist"], pm["identity_dist"])
        print(f"{m:9s} gain {' '.join(f'{g:+.2f}' for g in gains)}  >=+1: {sum(g >= 1 for g in gains)}/{len(gains)}  ssim>=telea {ssim_ok}  nme<both {nme_ok}  id<both {id_ok}")
