"""A small kustomize: enough of `kustomize build` for deploy/k8s (resources, namespace, images, replicas and
JSON 6902 patches with a target), so the overlays are rendered and validated where no kustomize or kubectl
binary exists. Where kubectl exists, tests check that both render the same documents."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume"}


def build(folder: Path) -> list[dict]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {"apiVersion", "kind", "namespace", "resources", "images", "replicas", "patches"}
    if unknown:
        raise ValueError(f"{folder}: this small kustomize does not know {sorted(unknown)}")
    documents: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            documents += build(path)
        else:
            documents += [document for document in yaml.safe_load_all(path.read_text()) if document]
    documents = copy.deepcopy(documents)
    namespace = kustomization.get("namespace")
    if namespace:
        for document in documents:
            if document["kind"] == "Namespace":
                document["metadata"]["name"] = namespace
            elif document["kind"] not in CLUSTER_SCOPED:
                document["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for document in documents:
            for container in _containers(document):
                name, _, _ = container["image"].partition(":")
                if name == image["name"]:
                    new = image.get("newName", name)
                    container["image"] = f"{new}:{image['newTag']}" if "newTag" in image else new
    for replicas in kustomization.get("replicas", []):
        for document in documents:
            if document["metadata"]["name"] == replicas["name"] and "replicas" in document.get("spec", {}):
                document["spec"]["replicas"] = replicas["count"]
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        operations = yaml.safe_load(patch["patch"])
        matched = [
            document
            for document in documents
            if document["kind"] == target.get("kind", document["kind"])
            and document["metadata"]["name"] == target.get("name", document["metadata"]["name"])
        ]
        if not matched:
            raise ValueError(f"{folder}: a patch targets nothing: {target}")
        for document in matched:
            for operation in operations:
                _apply(document, operation)
    return documents


def _containers(document: dict) -> list[dict]:
    spec = document.get("spec", {})
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec.get("template", {}).get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


def _apply(document: dict, operation: dict) -> None:
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
    node = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key = int(last) if isinstance(node, list) and last != "-" else last
    if operation["op"] == "replace":
        node[key]  # noqa: B018 - replace needs an existing value (KeyError/IndexError otherwise)
        node[key] = operation["value"]
    elif operation["op"] == "add":
        if isinstance(node, list):
            node.append(operation["value"]) if key == "-" else node.insert(key, operation["value"])
        else:
            node[key] = operation["value"]
    elif operation["op"] == "remove":
        del node[key]
    else:
        raise ValueError(f"unsupported patch operation {operation['op']}")
