"""The paper's Figures 1-5 per survey, plus answer validity and answer distributions, from an output directory.

Each figure is computed in two steps: ``figN_data(out, survey)`` returns the exact numbers the figure plots
(a DataFrame, also written next to the figure as CSV so a reader can check or re-plot them), and a plotting
function draws them. A figure whose data is missing, or that the design cannot show (one language and one
persona, no rq2/rq3 file, ...), is skipped with a reason instead of failing.

One module per subject: ``common`` (style, palette, saving, labels), ``similarity`` (RQ1 aggregations,
Figures 1 and 3), ``ratings`` (Figure 2), ``regressions`` (Figures 4 and 5), ``validity``, ``distributions``,
and ``render`` (drawing them all, the index).
"""

from whosevalues.report.figures.common import (
    COUNTRY_COLOURS,
    DPI,
    OKABE_ITO,
    PAPER_WIDTH,
    STYLE,
    FigureResult,
    colour_of,
)
from whosevalues.report.figures.distributions import distribution_data, figure_distributions
from whosevalues.report.figures.ratings import fig2_data, figure2
from whosevalues.report.figures.regressions import fig4_data, fig5_data, figure4, figure5
from whosevalues.report.figures.render import FIGURES, read_figure_index, write_figures
from whosevalues.report.figures.similarity import (
    RESPONDENT_LANGUAGE,
    fig1_data,
    fig3_reference_data,
    figure1,
    figure3,
    item_mean_cosines,
    model_similarity,
    rq1_rows,
)
from whosevalues.report.figures.validity import figure_validity, validity_data

__all__ = [
    "COUNTRY_COLOURS", "DPI", "FIGURES", "OKABE_ITO", "PAPER_WIDTH", "RESPONDENT_LANGUAGE", "STYLE", "FigureResult",
    "colour_of", "distribution_data", "fig1_data", "fig2_data", "fig3_reference_data", "fig4_data", "fig5_data",
    "figure1", "figure2", "figure3", "figure4", "figure5", "figure_distributions", "figure_validity",
    "item_mean_cosines", "model_similarity", "read_figure_index", "rq1_rows", "validity_data", "write_figures",
]
