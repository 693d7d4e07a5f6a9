"""Training uses the appliance's own metrics (one implementation, pure numpy), so a model's
validation figures and `appliance evaluate` compute AUC and thresholds the same way."""

from appliance.evaluation.metrics import Operating, at_threshold, choose_threshold, roc_auc

__all__ = ["Operating", "at_threshold", "choose_threshold", "roc_auc"]
