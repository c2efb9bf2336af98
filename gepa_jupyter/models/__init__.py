"""Layer 2: model URIs (`provider:/model`) through litellm, the embedded local model,
the response cache and token/cost accounting. Usable without the views and front-ends."""

from gepa_jupyter.models.session import Model, ModelSession, Usage, UsageMeter
from gepa_jupyter.models.uris import parse_model_uri

__all__ = ["Model", "ModelSession", "Usage", "UsageMeter", "parse_model_uri"]
