"""Churn risk: who is likely to stop buying, how sure the model is, and why.

Two ways to know who churned:

- **Time split** (a dataset with orders). A customer is *active* at a day
  ``t`` when they ordered in the ``active_days`` (365) days before it, and
  an active customer has *churned* at ``t`` when they place no order in the
  ``horizon_days`` (90) days from ``t``. The model learns from the customers
  active at the cutoff ``asOf - horizonDays`` (features from the history
  before the cutoff, labels from the horizon after it, which ends at
  ``asOf``), then scores the customers active at ``asOf`` from their history
  to date: the probability that they place no order in the next
  ``horizon_days``.
- **Label** (an uploaded customer table with a churn column, see
  :func:`analytics.ingest.parse_customers`). The label is the truth; the
  features are the customer's other columns.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import (
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from analytics import charts
from analytics.errors import InvalidArgumentError
from analytics.features import (
    LABEL_ATTRIBUTES,
    RFM_FEATURES,
    build_customer_features,
    categorical_feature_names,
    numeric_feature_names,
)
from analytics.frames import DatasetFrames
from analytics.kpis import count_orders, line_revenue
from analytics.periods import DEFAULT_WINDOW_DAYS
from analytics.rfm import customer_id_order
from analytics.store import AnalyticsStore
from analytics.worker import run_with_timeout

DEFAULT_HORIZON_DAYS = 90
MAX_HORIZON_DAYS = 730
MAX_ACTIVE_DAYS = 3650
# The order-trend features compare the last TREND_DAYS with the TREND_DAYS before.
TREND_DAYS = 90
TREND_MONTHS = 12
MIN_CUSTOMERS = 20
MIN_PER_CLASS = 5
MAX_TOP = 1000
TEST_SHARE = 0.25
THRESHOLD = 0.5
LOW_RISK_BELOW = 0.3
HIGH_RISK_FROM = 0.7
TOP_FACTORS = 3
# Candidates in order of preference: a tie goes to the simpler model.
ALGORITHMS = ("logistic_regression", "gradient_boosting")
# Bounds that keep model selection and permutation importance quick on
# 100,000 customers: both are estimates, and a sample estimates as well.
SELECTION_ROWS = 20_000
IMPORTANCE_ROWS = 2_000
IMPORTANCE_REPEATS = 5
# A factor must move a customer's probability by this much to be named.
MIN_EFFECT = 0.001
# |Spearman rho| between a feature and the predicted risk below this: no clear direction.
MIN_DIRECTION = 0.1

FEATURE_LABELS = {
    "recency": "Days since last order",
    "frequency": "Orders to date",
    "monetary": "Revenue to date",
    "tenure": "Days since first order",
    "average_order_value": "Average order value",
    "recent_orders": f"Orders in the last {TREND_DAYS} days",
    "order_trend": f"Orders in the last {TREND_DAYS} days minus the {TREND_DAYS} before",
    "revenue_trend": f"Revenue in the last {TREND_DAYS} days minus the {TREND_DAYS} before",
    "mean_days_between_orders": "Mean days between orders",
    "overdue_ratio": "Days since last order / mean days between orders",
    "satisfaction_score": "Satisfaction score",
    "region": "Region",
}
_LABEL = next(iter(LABEL_ATTRIBUTES))


class ChurnMode(StrEnum):
    TIME_SPLIT = "TIME_SPLIT"
    LABEL = "LABEL"


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


# Traffic-light colours, so a chart reads the same whatever order the levels come in.
RISK_COLORS = {RiskLevel.HIGH: "#dc2626", RiskLevel.MEDIUM: "#f59e0b", RiskLevel.LOW: "#16a34a"}


class FactorDirection(StrEnum):
    INCREASES_RISK = "INCREASES_RISK"
    DECREASES_RISK = "DECREASES_RISK"
    MIXED = "MIXED"
    BY_CATEGORY = "BY_CATEGORY"


@dataclass(frozen=True)
class RiskBucket:
    level: RiskLevel
    customers: int
    share: float


@dataclass(frozen=True)
class ChurnFactor:
    """A feature's weight in the model: the mean drop in held-out AUC when it is shuffled.

    ``direction`` says whether higher values go with higher predicted risk
    (the sign of the Spearman correlation over the labelled customers, MIXED
    below 0.1 in size); for a category, ``riskiest_value`` is the value with
    the highest mean predicted risk.
    """

    feature: str
    label: str
    importance: float
    importance_std: float
    direction: FactorDirection
    riskiest_value: str | None


@dataclass(frozen=True)
class FactorContribution:
    """How much one of a customer's values raises their churn probability.

    ``effect`` is the probability minus the probability with this value
    replaced by ``typical_value`` (the median, or the most common category,
    of the training customers).
    """

    feature: str
    label: str
    value: str | None
    typical_value: str | None
    effect: float


@dataclass(frozen=True)
class CustomerChurnRisk:
    customer_id: str
    name: str | None
    probability: float
    risk_level: RiskLevel
    recency: int | None
    frequency: int | None
    monetary: float | None
    top_factors: tuple[FactorContribution, ...]


@dataclass(frozen=True)
class ChurnTrendPoint:
    """Churn at the first day of ``month``: of the ``customers`` active then,
    ``churners`` placed no order within the horizon; ``churn_rate`` in percent."""

    month: dt.date
    customers: int
    churners: int
    churn_rate: float


@dataclass(frozen=True)
class ChurnModelMetrics:
    """The chosen model, evaluated on the held-out customers at ``threshold``.

    ``selection_auc`` is the cross-validated AUC on the training split that
    chose the algorithm; ``base_rate`` the share of churners among all the
    labelled customers.
    """

    algorithm: str
    auc: float | None
    precision: float
    recall: float
    f1: float
    threshold: float
    train_size: int
    test_size: int
    base_rate: float
    selection_auc: float | None


@dataclass(frozen=True, eq=False)
class ChurnTrainingSet:
    """What :func:`fit_churn_model` needs: labelled features and the rows to score.

    With ``out_of_fold``, the labelled customers are also among the rows to
    score and get out-of-fold probabilities (an in-sample probability would
    flatter the model).
    """

    features: pd.DataFrame
    labels: pd.Series
    scoring: pd.DataFrame
    out_of_fold: bool
    feature_labels: dict[str, str]
    random_state: int = 0


@dataclass(frozen=True, eq=False)
class ChurnModelFit:
    estimator: Pipeline
    metrics: ChurnModelMetrics
    factors: tuple[ChurnFactor, ...]
    probabilities: np.ndarray


@dataclass(frozen=True, eq=False)
class ChurnResult:
    """Churn risk of a dataset's customers (see :func:`analyze_churn`).

    ``current_churn_rate`` (percent) and ``total_churners`` describe the
    ``observed_customers`` whose outcome is known: those active at the cutoff
    (time split) or those with a label. The probabilities describe the
    ``scores`` customers: active at ``as_of`` (time split) or all (label).
    ``scores`` is indexed by ``customer_id``, riskiest first, with
    external_id, name, probability, risk_level, recency, frequency and
    monetary (NaN without orders); ``features`` holds their model inputs.
    """

    as_of: dt.date
    cutoff: dt.date | None
    horizon_days: int
    active_days: int
    mode: ChurnMode
    current_churn_rate: float
    total_churners: int
    observed_customers: int
    average_churn_probability: float
    risk_distribution: tuple[RiskBucket, ...]
    factors: tuple[ChurnFactor, ...]
    trend: tuple[ChurnTrendPoint, ...]
    model: ChurnModelMetrics
    scores: pd.DataFrame
    features: pd.DataFrame
    estimator: Pipeline
    typical_values: dict[str, Any]
    feature_labels: dict[str, str]
    distribution_figure: charts.Figure
    factors_figure: charts.Figure
    trend_figure: charts.Figure

    @property
    def scored_customers(self) -> int:
        return len(self.scores)

    def top_at_risk(self, count: int = 20) -> tuple[CustomerChurnRisk, ...]:
        """The ``count`` customers most likely to churn, each with their top factors."""
        check_top(count)
        return self._explain(self.scores.index[:count])

    def customer_risk(self, customer_id: str) -> CustomerChurnRisk | None:
        """One customer's risk by source id; ``None`` when the customer is not scored."""
        match = self.scores.index[self.scores["external_id"].astype("str") == str(customer_id)]
        return self._explain(match[:1])[0] if len(match) else None

    def _explain(self, customer_ids: pd.Index) -> tuple[CustomerChurnRisk, ...]:
        rows = self.features.loc[customer_ids]
        effects = contribution_effects(self.estimator, rows, self.typical_values)
        risks = []
        for position, customer_id in enumerate(customer_ids):
            score = self.scores.loc[customer_id]
            order = np.argsort(-effects[position], kind="stable")
            factors = tuple(
                FactorContribution(
                    feature=str(rows.columns[j]),
                    label=self.feature_labels[str(rows.columns[j])],
                    value=_format_value(rows.iat[position, j]),
                    typical_value=_format_value(self.typical_values[rows.columns[j]]),
                    effect=float(effects[position, j]),
                )
                for j in order[:TOP_FACTORS]
                if effects[position, j] >= MIN_EFFECT
            )
            risks.append(
                CustomerChurnRisk(
                    customer_id=str(score["external_id"]),
                    name=None if pd.isna(score["name"]) else str(score["name"]),
                    probability=float(score["probability"]),
                    risk_level=RiskLevel(score["risk_level"]),
                    recency=_optional_int(score["recency"]),
                    frequency=_optional_int(score["frequency"]),
                    monetary=None if pd.isna(score["monetary"]) else float(score["monetary"]),
                    top_factors=factors,
                )
            )
        return tuple(risks)


def analyze_churn(
    frames: DatasetFrames,
    as_of: dt.date | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    *,
    active_days: int = DEFAULT_WINDOW_DAYS,
    timeout: float | None = None,
    random_state: int = 0,
) -> ChurnResult:
    """Train a churn model on the dataset and score its customers.

    The model is a gradient-boosting or a logistic-regression classifier,
    whichever has the higher 3-fold cross-validated AUC on a stratified 75%
    training split (logistic regression on a tie); it is evaluated on the
    other 25% (AUC, and precision, recall and F1 at probability 0.5), then
    refitted on every labelled customer to score. Global factors are
    permutation importances on the held-out split; a customer's top factors
    come from :func:`contribution_effects`.

    Time-split features (see :func:`build_churn_features`): recency,
    frequency, monetary value, tenure, average order value, orders in the
    last 90 days and their change from the 90 days before, the change in
    revenue, mean days between orders and how overdue the next order is,
    satisfaction, region and the customer-table attributes. Label-mode
    features are the customer's attributes (numeric and categorical),
    satisfaction and region, plus the order features when the dataset also
    has orders; labelled customers get out-of-fold probabilities (5-fold),
    unlabelled ones the refitted model's.

    Parameters
    ----------
    frames : DatasetFrames
        The dataset.
    as_of : date, optional
        Analysis date; default the day after the latest order (today for a
        customer table without orders, where it changes nothing).
    horizon_days : int, default 90
        A customer has churned when they place no order in this many days (1..730).
    active_days : int, default 365
        A customer is active when they ordered in this many days (1..3650).
    timeout : float, optional
        Train in a child process stopped after this many seconds (see
        :func:`analytics.worker.run_with_timeout`); default in this process.
    random_state : int, default 0
        Seed of the split, the models and the permutations.

    Returns
    -------
    ChurnResult

    Raises
    ------
    InvalidArgumentError
        For an argument out of range; when the dataset has neither orders nor
        a churn label; with fewer than 20 labelled customers, or fewer than 5
        churners or 5 non-churners among them.
    TrainingTimeoutError
        When training takes longer than ``timeout``.
    """
    _check_arguments(as_of, horizon_days, active_days)
    as_of = as_of or frames.default_as_of
    attributes = frames.customer_attributes
    has_label = _LABEL in attributes.columns and attributes[_LABEL].notna().any()
    if has_label:
        mode, cutoff = ChurnMode.LABEL, None
        training = _label_training_set(frames, as_of, random_state)
    elif not frames.orders.empty:
        mode, cutoff = ChurnMode.TIME_SPLIT, as_of - dt.timedelta(days=horizon_days)
        training = _time_split_training_set(frames, as_of, horizon_days, active_days, random_state)
    else:
        raise InvalidArgumentError(
            "churnRisk: the dataset has no orders to tell who stopped buying and no churn "
            "label column; upload transactions or a customer table with a churn column"
        )
    if timeout is None:
        fit = fit_churn_model(training)
    else:
        fit = run_with_timeout(_fit_in_child, training, timeout=timeout)

    from_orders = not frames.orders.empty
    scores = _scores(frames, training.scoring, fit.probabilities, from_orders)
    features = training.scoring.loc[scores.index]
    trend = churn_rate_trend(frames, as_of, horizon_days, active_days)
    distribution = _risk_distribution(scores["risk_level"])
    churners = int(training.labels.sum())
    observed = len(training.labels)
    return ChurnResult(
        as_of=as_of,
        cutoff=cutoff,
        horizon_days=horizon_days,
        active_days=active_days,
        mode=mode,
        current_churn_rate=100.0 * churners / observed,
        total_churners=churners,
        observed_customers=observed,
        average_churn_probability=float(scores["probability"].mean()) if len(scores) else 0.0,
        risk_distribution=distribution,
        factors=fit.factors,
        trend=trend,
        model=fit.metrics,
        scores=scores,
        features=features,
        estimator=fit.estimator,
        typical_values=typical_values(training.features),
        feature_labels=training.feature_labels,
        distribution_figure=charts.pie_figure(
            [bucket.level.title() for bucket in distribution],
            [bucket.customers for bucket in distribution],
            title="Customers by churn risk",
            colors=[RISK_COLORS[bucket.level] for bucket in distribution],
        ),
        factors_figure=charts.bar_figure(
            [factor.label for factor in fit.factors],
            [factor.importance for factor in fit.factors],
            title="What drives churn (permutation importance)",
            x_title="Factor",
            y_title="Drop in held-out AUC when shuffled",
            horizontal=True,
        ),
        trend_figure=charts.line_figure(
            [point.month.isoformat() for point in trend],
            {"Churn rate (%)": [point.churn_rate for point in trend]},
            title=f"Monthly churn rate (no order within {horizon_days} days)",
            x_title="Month",
            y_title="Churn rate (%)",
        ),
    )


def churn_labels(
    frames: DatasetFrames,
    cutoff: dt.date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    active_days: int = DEFAULT_WINDOW_DAYS,
) -> pd.Series:
    """Who churned at ``cutoff``: ``True`` for no order in ``[cutoff, cutoff + horizon_days)``.

    Indexed by ``customer_id`` (source-id order) over the customers active at
    the cutoff: those with an order in ``[cutoff - active_days, cutoff)``.
    """
    days = _order_days(frames)
    index = customer_id_order(frames.customers)
    return _labels(days, index, pd.Timestamp(cutoff), horizon_days, active_days)


def churn_rate_trend(
    frames: DatasetFrames,
    as_of: dt.date,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    active_days: int = DEFAULT_WINDOW_DAYS,
    months: int = TREND_MONTHS,
) -> tuple[ChurnTrendPoint, ...]:
    """Monthly churn rate, as :func:`churn_labels` at the first day of each month.

    Only months whose horizon has fully passed by ``as_of`` count (first day
    + ``horizon_days`` <= ``as_of``), the latest ``months`` of them with at
    least one active customer.
    """
    days = _order_days(frames)
    if days.empty:
        return ()
    last = pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)
    first = days["order_date"].min() + pd.offsets.MonthBegin(1)
    index = customer_id_order(frames.customers)
    points: list[ChurnTrendPoint] = []
    for start in reversed(pd.date_range(first, last, freq="MS")):
        labels = _labels(days, index, start, horizon_days, active_days)
        if labels.empty:
            continue
        churners = int(labels.sum())
        points.append(
            ChurnTrendPoint(
                month=start.date(),
                customers=len(labels),
                churners=churners,
                churn_rate=100.0 * churners / len(labels),
            )
        )
        if len(points) == months:
            break
    return tuple(reversed(points))


def build_churn_features(
    frames: DatasetFrames, as_of: dt.date, active_days: int = DEFAULT_WINDOW_DAYS
) -> pd.DataFrame:
    """Churn features of the customers active at ``as_of``, from the orders before it.

    The features of :func:`analytics.features.build_customer_features`
    (recency, frequency, monetary, tenure, satisfaction, region, attributes)
    plus ``average_order_value`` (monetary / frequency), ``recent_orders``
    (orders in the 90 days before ``as_of``), ``order_trend`` (that minus the
    orders in the 90 days before those), ``revenue_trend`` (the same for
    revenue), ``mean_days_between_orders`` (first to last order over
    frequency - 1; NaN for a single order) and ``overdue_ratio`` (recency /
    mean days between orders).
    """
    features = build_customer_features(frames, as_of)
    if "recency" not in features.columns:
        return features
    features = features.loc[features["recency"] <= active_days]
    end = pd.Timestamp(as_of)
    middle = end - pd.Timedelta(days=TREND_DAYS)
    start = middle - pd.Timedelta(days=TREND_DAYS)
    recent_orders, recent_revenue = _window_totals(frames.lines, middle, end, features.index)
    prior_orders, prior_revenue = _window_totals(frames.lines, start, middle, features.index)
    frequency = features["frequency"]
    span = features["tenure"] - features["recency"]
    between = (span / (frequency - 1)).where(frequency > 1)
    behaviour = pd.DataFrame(
        {
            "average_order_value": features["monetary"] / frequency,
            "recent_orders": recent_orders,
            "order_trend": recent_orders - prior_orders,
            "revenue_trend": recent_revenue - prior_revenue,
            "mean_days_between_orders": between,
            "overdue_ratio": (features["recency"] / between).where(between > 0),
        },
        index=features.index,
    )
    history = [*RFM_FEATURES, "tenure"]
    others = [column for column in features.columns if column not in history]
    return pd.concat([features[history], behaviour, features[others]], axis=1)


def fit_churn_model(training: ChurnTrainingSet) -> ChurnModelFit:
    """Choose, fit, evaluate and explain a churn classifier; score ``training.scoring``.

    A module-level function of picklable arguments, so it can run in a child
    process (:func:`analytics.worker.run_with_timeout`).
    """
    features, labels = training.features, training.labels.to_numpy(dtype=bool)
    seed = training.random_state
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=TEST_SHARE, stratify=labels, random_state=seed
    )
    algorithm, selection_auc = _select_algorithm(x_train, y_train, seed)
    model = make_churn_estimator(algorithm, x_train, seed).fit(x_train, y_train)
    test_probability = model.predict_proba(x_test)[:, 1]
    predicted = test_probability >= THRESHOLD
    both_classes = 0 < y_test.sum() < len(y_test)
    metrics = ChurnModelMetrics(
        algorithm=algorithm,
        auc=float(roc_auc_score(y_test, test_probability)) if both_classes else None,
        precision=float(precision_score(y_test, predicted, zero_division=0)),
        recall=float(recall_score(y_test, predicted, zero_division=0)),
        f1=float(f1_score(y_test, predicted, zero_division=0)),
        threshold=THRESHOLD,
        train_size=len(y_train),
        test_size=len(y_test),
        base_rate=float(labels.mean()),
        selection_auc=selection_auc,
    )
    final = clone(model).fit(features, labels)
    factors = (
        _global_factors(model, x_test, y_test, seed, training.feature_labels, final, features)
        if both_classes
        else ()
    )
    probabilities = final.predict_proba(training.scoring)[:, 1]
    if training.out_of_fold:
        folds = StratifiedKFold(n_splits=min(5, _minority(labels)), shuffle=True, random_state=seed)
        out_of_fold = cross_val_predict(
            clone(model), features, labels, cv=folds, method="predict_proba"
        )[:, 1]
        positions = training.scoring.index.get_indexer(features.index)
        known = positions >= 0
        probabilities[positions[known]] = out_of_fold[known]
    return ChurnModelFit(
        estimator=final, metrics=metrics, factors=factors, probabilities=probabilities
    )


def _fit_in_child(training: ChurnTrainingSet) -> ChurnModelFit:
    """:func:`fit_churn_model` on one OpenMP thread, in a process of its own.

    Fits share the cores with requests and other jobs, and gradient
    boosting's threads spinning against them made a 100,000-customer fit
    three times slower on a busy two-core machine. The limit is process-wide,
    which is safe only in a child that ends with the fit.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        return fit_churn_model(training)


def make_churn_estimator(algorithm: str, features: pd.DataFrame, random_state: int = 0) -> Pipeline:
    """An unfitted classifier pipeline for a feature frame's columns.

    ``gradient_boosting``: histogram gradient boosting on the numbers as they
    are (missing values included) and the categories ordinal-encoded as
    native categories. ``logistic_regression``: numbers imputed by the median
    (with missing-value indicators), signed-log transformed and
    standardised; categories one-hot encoded.
    """
    numeric = numeric_feature_names(features)
    categorical = categorical_feature_names(features)
    if algorithm == "gradient_boosting":
        encode = ColumnTransformer(
            [
                (
                    "categories",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                    ),
                    categorical,
                ),
                ("numbers", "passthrough", numeric),
            ],
            verbose_feature_names_out=False,
        )
        classifier: Any = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=100,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            categorical_features=list(range(len(categorical))) if categorical else None,
            early_stopping=False,
            random_state=random_state,
        )
        return Pipeline([("encode", encode), ("classify", classifier)])
    if algorithm == "logistic_regression":
        numbers = Pipeline(
            [
                # A sparse attribute can be empty in one fold: impute it, never drop it.
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("log", FunctionTransformer(_signed_log)),
                ("scale", StandardScaler()),
            ]
        )
        categories = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                ("one_hot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        encode = ColumnTransformer(
            [("numbers", numbers, numeric), ("categories", categories, categorical)]
        )
        classifier = LogisticRegression(C=1.0, max_iter=2000)
        return Pipeline([("encode", encode), ("classify", classifier)])
    raise InvalidArgumentError(
        f"algorithm: expected gradient_boosting or logistic_regression, got {algorithm!r}"
    )


def typical_values(features: pd.DataFrame) -> dict[str, Any]:
    """Each feature's median (numbers) or most common value (categories); NaN when unknown."""
    typical: dict[str, Any] = {}
    for column in features.columns:
        values = features[column].dropna()
        if features[column].dtype.kind == "f":
            typical[column] = float(values.median()) if len(values) else math.nan
        else:
            typical[column] = values.value_counts().index[0] if len(values) else np.nan
    return typical


def contribution_effects(
    estimator: Pipeline, rows: pd.DataFrame, typical: dict[str, Any]
) -> np.ndarray:
    """Per row and feature: the churn probability minus that with the feature set to typical.

    One ``predict_proba`` over ``len(rows) * n_features`` variants, so it is
    meant for the few customers shown, not for a whole dataset.
    """
    count, columns = len(rows), list(rows.columns)
    if count == 0:
        return np.zeros((0, len(columns)))
    variants = pd.concat([rows] * (len(columns) + 1), ignore_index=True)
    for j, column in enumerate(columns, start=1):
        position = variants.columns.get_loc(column)
        variants.iloc[j * count : (j + 1) * count, position] = typical[column]
    probability = estimator.predict_proba(variants)[:, 1]
    base, changed = probability[:count], probability[count:].reshape(len(columns), count)
    return (base[np.newaxis, :] - changed).T


def feature_labels(columns: pd.Index, from_orders: bool) -> dict[str, str]:
    """Each feature's name for people: ``monthly_charges`` -> ``Monthly charges``.

    ``from_orders`` says the behaviour features (recency, tenure...) were
    computed from orders; without orders a column of that name is an
    uploaded attribute (a telecom table's ``tenure`` is in months).
    """
    known = FEATURE_LABELS if from_orders else {}
    return {
        str(column): known.get(str(column)) or str(column).replace("_", " ").strip().capitalize()
        for column in columns
    }


def risk_level(probability: float) -> RiskLevel:
    """LOW below 0.3, HIGH from 0.7, MEDIUM between."""
    if probability < LOW_RISK_BELOW:
        return RiskLevel.LOW
    return RiskLevel.HIGH if probability >= HIGH_RISK_FROM else RiskLevel.MEDIUM


def check_top(top: int) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise InvalidArgumentError(f"top: expected 1..{MAX_TOP}, got {top!r}")


def churn_risk(
    store: AnalyticsStore,
    dataset_id: str,
    as_of: dt.date | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    *,
    timeout: float | None = None,
) -> ChurnResult:
    """:func:`analyze_churn` of a stored dataset, cached per dataset version and arguments.

    GraphQL and the upload analysis both come through here, so a robot's
    upload warms the cache a dashboard reads.
    """
    return store.compute(
        dataset_id,
        ("churn", as_of, horizon_days),
        partial(analyze_churn, as_of=as_of, horizon_days=horizon_days, timeout=timeout),
    )


def churn_upload_report(
    frames: DatasetFrames, *, timeout: float | None = None, top: int = 20
) -> dict[str, Any]:
    """The churn part of the REST upload analysis, JSON-ready (no NaN, no numpy types)."""
    return churn_report_data(analyze_churn(frames, timeout=timeout), top)


def churn_report_data(result: ChurnResult, top: int = 20) -> dict[str, Any]:
    """A :class:`ChurnResult` in the REST shape: metrics, churn_rate_trends,
    top_churn_customers and churn_factors, plus the distribution and the model."""
    model = result.model
    return {
        "mode": result.mode.value,
        "as_of": result.as_of.isoformat(),
        "cutoff": result.cutoff.isoformat() if result.cutoff else None,
        "horizon_days": result.horizon_days,
        "metrics": {
            "current_churn_rate": result.current_churn_rate,
            "average_churn_prob": result.average_churn_probability,
            "total_churners": result.total_churners,
            "observed_customers": result.observed_customers,
            "scored_customers": result.scored_customers,
        },
        "churn_rate_trends": [
            {
                "month": point.month.isoformat(),
                "churn_rate": point.churn_rate,
                "customers": point.customers,
                "churners": point.churners,
            }
            for point in result.trend
        ],
        "top_churn_customers": [
            {
                "customer_id": customer.customer_id,
                "name": customer.name,
                "churn_probability": customer.probability,
                "risk_level": customer.risk_level.value,
                "recency": customer.recency,
                "frequency": customer.frequency,
                "monetary": customer.monetary,
                "top_factors": [
                    {
                        "feature": factor.feature,
                        "label": factor.label,
                        "value": factor.value,
                        "typical_value": factor.typical_value,
                        "effect": factor.effect,
                    }
                    for factor in customer.top_factors
                ],
            }
            for customer in result.top_at_risk(top)
        ],
        "churn_factors": [
            {
                "feature": factor.feature,
                "label": factor.label,
                "importance": factor.importance,
                "direction": factor.direction.value,
                "riskiest_value": factor.riskiest_value,
            }
            for factor in result.factors
        ],
        "risk_distribution": [
            {"level": bucket.level.value, "customers": bucket.customers, "share": bucket.share}
            for bucket in result.risk_distribution
        ],
        "model": {
            "algorithm": model.algorithm,
            "auc": model.auc,
            "precision": model.precision,
            "recall": model.recall,
            "f1": model.f1,
            "threshold": model.threshold,
            "train_size": model.train_size,
            "test_size": model.test_size,
            "base_rate": model.base_rate,
        },
    }


def _check_arguments(as_of: dt.date | None, horizon_days: int, active_days: int) -> None:
    if as_of is not None and not isinstance(as_of, dt.date):
        raise InvalidArgumentError(f"asOf: expected a date, got {type(as_of).__name__}")
    if not _is_int(horizon_days) or not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise InvalidArgumentError(
            f"horizonDays: expected 1..{MAX_HORIZON_DAYS} days, got {horizon_days!r}"
        )
    if not _is_int(active_days) or not 1 <= active_days <= MAX_ACTIVE_DAYS:
        raise InvalidArgumentError(
            f"activeDays: expected 1..{MAX_ACTIVE_DAYS} days, got {active_days!r}"
        )
    history = horizon_days + active_days
    if as_of is not None and (as_of - dt.date.min).days <= history:
        raise InvalidArgumentError(
            f"asOf: {as_of.isoformat()} leaves no room for the {history} days of history "
            "(horizonDays + activeDays) before it"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _time_split_training_set(
    frames: DatasetFrames, as_of: dt.date, horizon_days: int, active_days: int, random_state: int
) -> ChurnTrainingSet:
    cutoff = as_of - dt.timedelta(days=horizon_days)
    labels = churn_labels(frames, cutoff, horizon_days, active_days)
    where = (
        f"customers who ordered in the {active_days} days before the cutoff "
        f"{cutoff.isoformat()} (asOf - horizonDays)"
    )
    _check_labels(labels, where, "ordered again within the horizon")
    features = _categories_as_text(build_churn_features(frames, cutoff, active_days))
    features = features.loc[labels.index]
    scoring = build_churn_features(frames, as_of, active_days)
    scoring = _categories_as_text(scoring.reindex(columns=features.columns))
    for column in categorical_feature_names(features):
        scoring[column] = scoring[column].astype("object")
    return ChurnTrainingSet(
        features,
        labels,
        scoring,
        out_of_fold=False,
        feature_labels=feature_labels(features.columns, from_orders=True),
        random_state=random_state,
    )


def _label_training_set(
    frames: DatasetFrames, as_of: dt.date, random_state: int
) -> ChurnTrainingSet:
    features = _categories_as_text(build_customer_features(frames, as_of))
    raw = pd.to_numeric(frames.customer_attributes[_LABEL], errors="coerce")
    raw = raw.reindex(features.index)
    labels = (raw[raw.notna()] >= 0.5).rename("churned")
    _check_labels(labels, "customers with a churn label", "did not churn")
    features = features.loc[:, features.loc[labels.index].notna().any()]
    if features.columns.empty:
        raise InvalidArgumentError(
            "churnRisk: the customer table has no columns to learn from besides the churn label"
        )
    return ChurnTrainingSet(
        features.loc[labels.index],
        labels,
        features,
        out_of_fold=True,
        feature_labels=feature_labels(features.columns, from_orders=not frames.orders.empty),
        random_state=random_state,
    )


def _check_labels(labels: pd.Series, where: str, stayed: str) -> None:
    count = len(labels)
    if count < MIN_CUSTOMERS:
        raise InvalidArgumentError(
            f"churnRisk: needs at least {MIN_CUSTOMERS} {where}, the dataset has {count}"
        )
    churners = int(labels.sum())
    if min(churners, count - churners) < MIN_PER_CLASS:
        raise InvalidArgumentError(
            f"churnRisk: needs at least {MIN_PER_CLASS} churners and {MIN_PER_CLASS} customers "
            f"who {stayed} among the {count} {where}; {churners} churned. "
            "Try another horizonDays or asOf"
        )


def _categories_as_text(features: pd.DataFrame) -> pd.DataFrame:
    """Categories as text with NaN for missing, the one form every encoder reads."""
    features = features.copy()
    for column in categorical_feature_names(features):
        values = features[column]
        features[column] = values.map(str, na_action="ignore").where(values.notna(), np.nan)
    return features


def _order_days(frames: DatasetFrames) -> pd.DataFrame:
    """One row per customer and day with an order, by date."""
    days = frames.lines[["customer_id", "order_date"]].drop_duplicates()
    return days.sort_values("order_date", kind="stable").reset_index(drop=True)


def _labels(
    days: pd.DataFrame, index: pd.Index, cutoff: pd.Timestamp, horizon_days: int, active_days: int
) -> pd.Series:
    dates = days["order_date"]
    start = cutoff - pd.Timedelta(days=active_days)
    end = cutoff + pd.Timedelta(days=horizon_days)
    active = days.loc[(dates >= start) & (dates < cutoff), "customer_id"].unique()
    returned = days.loc[(dates >= cutoff) & (dates < end), "customer_id"].unique()
    members = index[index.isin(active)]
    return pd.Series(~members.isin(returned), index=members, name="churned")


def _window_totals(
    lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """Distinct orders and revenue per customer in ``[start, end)``, 0 for none."""
    window = lines.loc[(lines["order_date"] >= start) & (lines["order_date"] < end)]
    orders = count_orders(window, ["customer_id"], keys_follow_order=True)
    revenue = line_revenue(window).groupby(window["customer_id"]).sum()
    return (
        orders.reindex(index, fill_value=0).astype("float64"),
        revenue.reindex(index, fill_value=0.0).astype("float64"),
    )


def _minority(labels: np.ndarray) -> int:
    churners = int(labels.sum())
    return min(churners, len(labels) - churners)


def _select_algorithm(
    features: pd.DataFrame, labels: np.ndarray, random_state: int
) -> tuple[str, float | None]:
    """The algorithm with the best cross-validated AUC (first of :data:`ALGORITHMS` on a tie)."""
    if len(labels) > SELECTION_ROWS:
        features, _, labels, _ = train_test_split(
            features, labels, train_size=SELECTION_ROWS, stratify=labels, random_state=random_state
        )
    splits = min(3, _minority(labels))
    if splits < 2:
        return ALGORITHMS[-1], None
    folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=random_state)
    best: tuple[str, float | None] = (ALGORITHMS[-1], None)
    for algorithm in ALGORITHMS:
        estimator = make_churn_estimator(algorithm, features, random_state)
        auc = float(
            np.mean(cross_val_score(estimator, features, labels, cv=folds, scoring="roc_auc"))
        )
        if best[1] is None or auc > best[1]:
            best = (algorithm, auc)
    return best


def _global_factors(
    model: Pipeline,
    test_features: pd.DataFrame,
    test_labels: np.ndarray,
    random_state: int,
    labels_by_feature: dict[str, str],
    final: Pipeline,
    features: pd.DataFrame,
) -> tuple[ChurnFactor, ...]:
    """Importance: ``model`` on its held-out rows. Direction: ``final`` on every labelled row
    (a description of the model, which needs many rows per category, not an evaluation)."""
    sample, sample_labels = test_features, test_labels
    if len(test_labels) > IMPORTANCE_ROWS:
        sample, _, sample_labels, _ = train_test_split(
            test_features,
            test_labels,
            train_size=IMPORTANCE_ROWS,
            stratify=test_labels,
            random_state=random_state,
        )
    importance = permutation_importance(
        model,
        sample,
        sample_labels,
        scoring="roc_auc",
        n_repeats=IMPORTANCE_REPEATS,
        random_state=random_state,
    )
    risk = pd.Series(final.predict_proba(features)[:, 1], index=features.index)
    factors = []
    for j, column in enumerate(features.columns):
        direction, riskiest = _direction(features[column], risk)
        factors.append(
            ChurnFactor(
                feature=str(column),
                label=labels_by_feature[str(column)],
                importance=_finite(importance.importances_mean[j]),
                importance_std=_finite(importance.importances_std[j]),
                direction=direction,
                riskiest_value=riskiest,
            )
        )
    factors.sort(key=lambda factor: -factor.importance)
    return tuple(factors)


def _direction(values: pd.Series, risk: pd.Series) -> tuple[FactorDirection, str | None]:
    known = values.notna()
    if values.dtype.kind != "f":
        if not known.any():
            return FactorDirection.BY_CATEGORY, None
        by_value = risk[known].groupby(values[known]).mean()
        return FactorDirection.BY_CATEGORY, str(by_value.idxmax())
    if known.sum() < 3 or values[known].nunique() < 2:
        return FactorDirection.MIXED, None
    rho = values[known].corr(risk[known], method="spearman")
    if not math.isfinite(rho) or abs(rho) < MIN_DIRECTION:
        return FactorDirection.MIXED, None
    return (FactorDirection.INCREASES_RISK if rho > 0 else FactorDirection.DECREASES_RISK), None


def _scores(
    frames: DatasetFrames, scoring: pd.DataFrame, probabilities: np.ndarray, from_orders: bool
) -> pd.DataFrame:
    names = frames.customers.set_index("customer_id")[["external_id", "name"]]
    scores = names.reindex(scoring.index)
    scores["probability"] = probabilities.astype("float64")
    scores["risk_level"] = [risk_level(p).value for p in probabilities]
    for column in RFM_FEATURES:
        scores[column] = scoring[column] if from_orders else np.nan
    order = np.argsort(-scores["probability"].to_numpy(), kind="stable")
    return scores.iloc[order]


def _risk_distribution(levels: pd.Series) -> tuple[RiskBucket, ...]:
    counts = levels.value_counts()
    total = len(levels)
    return tuple(
        RiskBucket(
            level=level,
            customers=int(counts.get(level.value, 0)),
            share=int(counts.get(level.value, 0)) / total if total else 0.0,
        )
        for level in RiskLevel
    )


def _signed_log(values: np.ndarray) -> np.ndarray:
    """Tame long tails (revenue, days) for a linear model, keeping the sign."""
    return np.sign(values) * np.log1p(np.abs(values))


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def _optional_int(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


def _format_value(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating):
        if float(value).is_integer():
            return str(int(value))
        return f"{float(value):.2f}".rstrip("0").rstrip(".")
    return str(value)
