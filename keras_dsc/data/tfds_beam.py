"""The era5_cube build as an Apache Beam pipeline: examples and statistics made by workers.

`generate(pbegin, source)` adds to a pipeline the two branches a Beam build of
`datasets/era5_cube` runs: blocks of window numbers -> each worker opens the files and yields
that block's `(index, example)`; blocks of time steps -> per-block `Partials` -> one
`StatisticsCombineFn` combine. Workers need keras_dsc installed (they unpickle
`keras_dsc.data.tfds_build.CubeSource`), not the builder code.
"""

import apache_beam as beam

from keras_dsc.data.tfds_build import final_statistics, merge_partials


class StatisticsCombineFn(beam.CombineFn):
    """Merges per-block `Partials` into the per-variable statistics of the whole cube.

    Args:
        variables: the variable names, in the order of the partials' arrays.
    """

    def __init__(self, variables):
        super().__init__()
        self.variables = [str(v) for v in variables]

    def create_accumulator(self):
        return None

    def add_input(self, accumulator, partials):
        return merge_partials([accumulator, partials])

    def merge_accumulators(self, accumulators):
        return merge_partials(accumulators)

    def extract_output(self, accumulator):
        return final_statistics(accumulator, self.variables)


def generate(pbegin, source):
    """Adds the build of `source` (a `CubeSource`) to the pipeline of `pbegin`.

    Returns:
        `(examples, statistics)`: a PCollection of `(index, example)` and one of a single
        `{variable: {mean, std, min, max, count}}` dict.
    """
    examples = (pbegin
                | "WindowBlocks" >> beam.Create(source.window_blocks())
                | "SpreadWindowBlocks" >> beam.Reshuffle()
                | "Examples" >> beam.FlatMap(source.examples))
    statistics = (pbegin
                  | "TimeBlocks" >> beam.Create(source.time_blocks())
                  | "SpreadTimeBlocks" >> beam.Reshuffle()
                  | "Partials" >> beam.Map(source.partials)
                  | "Statistics" >> beam.CombineGlobally(StatisticsCombineFn(source.variables)))
    return examples, statistics
