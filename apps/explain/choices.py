from django.db import models


class ExplanationMethod(models.TextChoices):
    SHAP_GLOBAL = "shap_global", "SHAP, global"
    SHAP_LOCAL = "shap_local", "SHAP, local"
    LIME = "lime", "LIME, local"


# The plots each method stores (file names under the explanation's folder, and keys of ``plot_urls``).
PLOTS = {
    ExplanationMethod.SHAP_GLOBAL: ("summary", "bar"),
    ExplanationMethod.SHAP_LOCAL: ("waterfall", "force"),
    ExplanationMethod.LIME: ("lime",),
}
