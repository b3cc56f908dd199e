"""Claude on AWS Bedrock and Google Vertex AI, through the anthropic SDK's own clients.

The Messages API is the same there, so these are the anthropic adapter with another
client and other credentials (AWS's or Google's chain instead of ANTHROPIC_API_KEY).
Their SDK dependencies (boto3, google-auth) are optional extras: a spec naming one
that is not installed fails at once with the ``pip install`` line that fixes it.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from planloop.models.anthropic_adapter import AnthropicModel, Credential
from planloop.models.base import ModelConfig, ModelError

#: spec scheme → (the module the extra brings, the extra's name)
CLOUDS: dict[str, tuple[str, str]] = {
    "bedrock": ("boto3", "bedrock"),
    "vertex": ("google.auth", "vertex"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing
        return False


def cloud_model(scheme: str, model_id: str, *, role: str, config: ModelConfig) -> AnthropicModel:
    module, extra = CLOUDS[scheme]
    if not _installed(module):
        raise ModelError(
            "missing_extra",
            f"{scheme}:{model_id} needs the optional extra '{extra}' ({module} is not "
            f"installed): pip install 'planloop[{extra}]'",
        )
    settings = dict(config.providers.get(scheme) or {})
    return CloudModel(
        scheme,
        model_id,
        settings,
        role=role,
        max_retries=config.max_retries,
        timeout_s=config.timeout_s,
        price_table=config.prices or None,
    )


class CloudModel(AnthropicModel):
    """An ``AnthropicModel`` whose client is ``AnthropicBedrock`` or ``AnthropicVertex``."""

    def __init__(self, scheme: str, model_id: str, settings: dict[str, Any], **kw: Any) -> None:
        super().__init__(model_id, **kw)
        self.scheme = scheme
        self.settings = settings
        self.label = f"{scheme}:{model_id}"

    def _credential(self) -> Credential:
        # the cloud SDKs find their own credentials (AWS / Google chains)
        return ("api_key", "")

    def _client_for(self, secret: Credential) -> Any:
        import anthropic

        with self._lock:
            if self._client is None:
                timeout = anthropic.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
                common: dict[str, Any] = {"max_retries": self.max_retries, "timeout": timeout}
                if self.settings.get("base_url"):
                    common["base_url"] = self.settings["base_url"]
                if self.scheme == "bedrock":
                    region = self.settings.get("region") or os.environ.get("AWS_REGION")
                    self._client = anthropic.AnthropicBedrock(aws_region=region, **common)
                else:
                    region = self.settings.get("region") or os.environ.get("CLOUD_ML_REGION")
                    project = self.settings.get("project_id") or os.environ.get(
                        "ANTHROPIC_VERTEX_PROJECT_ID"
                    )
                    if not region or not project:
                        raise ModelError(
                            "auth",
                            f"{self.label} needs a region and a project: set CLOUD_ML_REGION "
                            "and ANTHROPIC_VERTEX_PROJECT_ID (or region / project_id under "
                            "[providers.vertex] in planloop.toml)",
                        )
                    self._client = anthropic.AnthropicVertex(
                        region=region, project_id=project, **common
                    )
            return self._client
