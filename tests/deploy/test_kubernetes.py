"""deploy/kubernetes: rendered as kustomize would, validated against the Kubernetes schemas
(kubernetes-validate ships them: no cluster, no network), and checked for the links between
the objects (names, selectors, ports) and the operational promises (probes, drain, non-root).

Rendering needs no kustomize binary (a small renderer for the features the kustomization uses);
where `kubectl kustomize` or `kustomize` exists, its output must be the same."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chatapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZATION = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes still commonly run and the newest the package knows.
VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version() + ".0"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
POD_TEMPLATES = {"Deployment", "Job", "StatefulSet", "DaemonSet"}

Doc = dict[str, Any]


def render(path: Path = KUSTOMIZATION) -> list[Doc]:
    """kustomize build, for what this kustomization uses: resources, namespace, labels
    (metadata only) and images."""
    kz = yaml.safe_load((path / "kustomization.yaml").read_text())
    unknown = set(kz) - {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    assert not unknown, f"the test's renderer does not know {unknown}: teach it"
    docs: list[Doc] = []
    for name in kz["resources"]:
        docs += [d for d in yaml.safe_load_all((path / name).read_text()) if d]
    labels: dict[str, str] = {}
    for entry in kz.get("labels", []):
        assert not entry.get("includeSelectors") and not entry.get("includeTemplates")
        labels.update(entry["pairs"])
    images = {i["name"]: f"{i.get('newName', i['name'])}:{i['newTag']}" for i in kz["images"]}
    out = []
    for doc in docs:
        doc = copy.deepcopy(doc)
        meta = doc.setdefault("metadata", {})
        if doc["kind"] not in CLUSTER_SCOPED and "namespace" in kz:
            meta["namespace"] = kz["namespace"]
        if labels:
            meta["labels"] = {**meta.get("labels", {}), **labels}
        for container in containers(doc):
            container["image"] = images.get(container["image"], container["image"])
        out.append(doc)
    return out


def pod_spec(doc: Doc) -> Doc:
    assert doc["kind"] in POD_TEMPLATES
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def containers(doc: Doc) -> list[Doc]:
    if doc["kind"] not in POD_TEMPLATES:
        return []
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Doc], kind: str) -> Doc:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return render()


def test_the_python_render_is_what_kustomize_renders(docs: list[Doc]) -> None:
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(KUSTOMIZATION)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(KUSTOMIZATION)]
    else:
        pytest.skip("no kubectl or kustomize here: the Python render is checked on its own")
    built = [d for d in yaml.safe_load_all(subprocess.check_output(cmd, text=True)) if d]

    def key(d: Doc) -> tuple[str, str]:
        return d["kind"], d["metadata"]["name"]

    assert sorted(built, key=key) == sorted(docs, key=key)


def test_every_resource_is_valid_against_the_kubernetes_schemas(docs: list[Doc]) -> None:
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Service",
        "Job",
        "Deployment",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds
    for version in VERSIONS:
        for doc in docs:
            # strict: unknown fields are errors too (a misspelt key is not silently ignored)
            kubernetes_validate.validate(doc, version, strict=True)


def test_an_invalid_resource_is_caught() -> None:
    """The validation is not vacuous: a misspelt field and a wrong type fail."""
    deployment = one(render(), "Deployment")
    typo = copy.deepcopy(deployment)
    typo["spec"]["replica"] = 2
    wrong = copy.deepcopy(deployment)
    pod_spec(wrong)["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    for bad in (typo, wrong):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_names_and_selectors_fit_together(docs: list[Doc]) -> None:
    config = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
    secrets = {d["metadata"]["name"] for d in by_kind(docs, "Secret")}
    for doc in docs:
        for c in containers(doc):
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    app = next(s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "chatapp")
    assert app["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"] for p in pod_spec(deployment)["containers"][0]["ports"]}
    assert {p["targetPort"] for p in app["spec"]["ports"]} <= port_names
    backend = one(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "chatapp"
    assert backend["port"]["name"] in {p["name"] for p in app["spec"]["ports"]}
    target = one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # Every pod runs the one image.
    assert len({c["image"] for d in docs for c in containers(d)}) == 1


def test_mysql_and_redis_are_external_and_the_urls_point_at_them(docs: list[Doc]) -> None:
    external = {
        s["metadata"]["name"]
        for s in by_kind(docs, "Service")
        if s["spec"].get("type") == "ExternalName"
    }
    assert external == {"mysql", "redis"}
    secret = one(docs, "Secret")["stringData"]
    assert (
        secret["DATABASE_URL"].startswith("mysql+pymysql://")
        and "@mysql:3306/" in secret["DATABASE_URL"]
    )
    assert secret["REDIS_URL"].startswith("redis://redis:6379/")
    # A placeholder the app refuses in production (JWT_SECRET shorter than 32 bytes).
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(app_env="production", jwt_secret=secret["JWT_SECRET"])


def test_every_setting_given_to_the_pods_is_one_the_app_reads(docs: list[Doc]) -> None:
    known = {name.upper() for name in Settings.model_fields} | {"PORT", "FORWARDED_ALLOW_IPS"}
    given = set(one(docs, "ConfigMap")["data"]) | set(one(docs, "Secret")["stringData"])
    for doc in docs:
        for c in containers(doc):
            given |= {e["name"] for e in c.get("env", [])}
    assert given <= known, given - known


def test_the_deployment_probes_drains_and_runs_as_non_root(docs: list[Doc]) -> None:
    deployment = one(docs, "Deployment")
    spec = pod_spec(deployment)
    app = spec["containers"][0]
    assert app["readinessProbe"]["httpGet"]["path"] == "/healthz"  # database and Redis
    assert app["livenessProbe"]["httpGet"]["path"] == "/ping"  # an outage must not restart
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pre_stop = app["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = float(one(docs, "ConfigMap")["data"]["SHUTDOWN_GRACE_SECONDS"])
    # preStop, the drain, and gunicorn's own shutdown all fit before the kubelet's SIGKILL.
    assert spec["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + grace + 15
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    for c in spec["containers"] + spec["initContainers"]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # What the image writes at run time (the Dockerfile's list) is mounted writable.
    mounts = {m["mountPath"] for m in app["volumeMounts"]}
    assert {"/tmp", "/app/.web/backend", "/data/uploads", "/data/media"} <= mounts
    # The pods wait for the migration job; the job runs the migrations.
    init = " ".join(spec["initContainers"][0]["command"])
    assert "chatapp.db" in init and "--check" in init
    job = pod_spec(one(docs, "Job"))["containers"][0]["command"]
    assert job[:3] == ["python", "-m", "chatapp.db"] and "--check" not in job


def test_the_ingress_keeps_websockets_open(docs: list[Doc]) -> None:
    annotations = one(docs, "Ingress")["metadata"]["annotations"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
