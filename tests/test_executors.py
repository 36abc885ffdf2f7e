"""Plans of runs and their executors: stages in order, a later stage reading
an earlier one's output, bad plans refused; on a Ray cluster of two raylets,
a grid, a run that dies and is retried, a real search -> retrain plan, and a
distributed run's bundles checked against the cluster."""

import dataclasses
import os
import sys

import pytest

from rl_darts.runtime import executors
from rl_darts.runtime import plans
from rl_darts.runtime import ray_roles
from rl_darts.runtime import run_queue
from rl_darts.space import genotypes
from tests import helpers

# A stand-in launcher: records its pid and node, writes ROOT/out.txt (from
# the file it needs, if any), sleeps when ROOT's name says 'slow', and the
# first time a 'flaky' run starts, kills itself as a lost process would die.
SCRIPT = """
import os, signal, sys, time
root, need = sys.argv[1], sys.argv[2]
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, 'starts'), 'a') as f:
  f.write(f'{os.getpid()} {os.environ.get("CUDA_VISIBLE_DEVICES")!r}\\n')
if 'flaky' in root and not os.path.exists(os.path.join(root, 'died')):
  open(os.path.join(root, 'died'), 'w').close()
  os.kill(os.getpid(), signal.SIGKILL)
time.sleep(3.0 if 'slow' in root else 0.1)
text = open(need).read() + '+' if need else 'x'
with open(os.path.join(root, 'out.txt'), 'w') as f:
  f.write(text)
"""


@dataclasses.dataclass(frozen=True)
class _Run(run_queue.Run):

  def command(self) -> list[str]:
    return [sys.executable, '-c', SCRIPT, self.root_dir,
            self.needs[0] if self.needs else '']


def _run(tmp_path, name, needs=()):
  return _Run(name, 'unused', str(tmp_path / name), 0,
              needs=tuple(str(tmp_path / n / 'out.txt') for n in needs))


def _starts(run):
  with open(os.path.join(run.root_dir, 'starts')) as f:
    return f.read().splitlines()


def test_a_later_stage_reads_an_earlier_stage_output(tmp_path):
  first = plans.Stage('first', (_run(tmp_path, 'a'), _run(tmp_path, 'b')))
  second = plans.Stage('second', (_run(tmp_path, 'c', needs=['a']),))
  executors.run_plan(plans.Plan((first, second)))
  assert open(tmp_path / 'c' / 'out.txt').read() == 'x+'
  executors.run_plan(plans.Plan((first, second)))  # All done: nothing runs.
  assert len(_starts(second.runs[0])) == 1


def test_bad_plans_and_executors_are_named(tmp_path):
  with pytest.raises(ValueError, match=r"run 'c' of stage 'second' needs "
                     r".*/nowhere/out.txt, which does not exist"):
    plans.Plan((plans.Stage('first', (_run(tmp_path, 'a'),)),
                plans.Stage('second', (_run(tmp_path, 'c',
                                            needs=['nowhere']),))))
  with pytest.raises(ValueError, match='share a root dir'):
    plans.one_stage([_run(tmp_path, 'a'), _run(tmp_path, 'a')])
  with pytest.raises(ValueError, match="unknown executor 'slurm'; allowed: "
                     'local, ray'):
    executors.run_plan(plans.one_stage([]), 'slurm')
  # An earlier stage that ends without writing what a later one needs.
  silent = dataclasses.replace(_run(tmp_path, 'quiet'), module='x')
  stage_b = plans.Stage('b', (_run(tmp_path, 'late', needs=['quiet']),))
  plan = plans.Plan((plans.Stage('a', (silent,)), stage_b))
  os.makedirs(silent.root_dir)
  open(os.path.join(silent.root_dir, 'DONE'), 'w').close()  # Done, no output.
  with pytest.raises(SystemExit, match=r"stage 'b' cannot start: .*quiet/out"):
    executors.run_plan(plan)


def test_local_runs_are_packed_into_the_hosts_gpus(tmp_path):
  """Half-GPU runs share a GPU two at a time, a two-GPU run waits for two
  free ones, a run reserving none sees none; a run no host slot can hold is
  refused before anything starts."""
  runs = [dataclasses.replace(_run(tmp_path, f'slow_{i}'), num_gpus=0.5)
          for i in range(4)]
  runs += [dataclasses.replace(_run(tmp_path, 'slow_pair'), num_gpus=2.0),
           _run(tmp_path, 'cpu_only')]
  run_queue.run_all(runs, parallel=8,
                    host=run_queue.HostSlots(cpus=4, gpus=('0', '1')))
  seen = [_starts(run)[0].split()[1] for run in runs]
  assert sorted(seen[:4]) == ["'0'", "'0'", "'1'", "'1'"]
  assert seen[4:] == ["'0,1'", "''"]
  with pytest.raises(ValueError, match=r"run 'gpu' reserves 1 CPUs and 1 GPUs;"
                     r' this host has 2 CPUs and 0 GPUs \(none\)'):
    run_queue.run_all([dataclasses.replace(_run(tmp_path, 'gpu'), num_gpus=1)],
                      host=run_queue.HostSlots(cpus=2, gpus=()))
  assert not os.path.exists(os.path.join(tmp_path, 'gpu'))


def test_an_unreachable_ray_address_is_named():
  pytest.importorskip('ray')
  with pytest.raises(ValueError, match=r"cannot reach a Ray cluster at "
                     r"'127.0.0.1:1'.*allowed"):
    executors.RayExecutor('127.0.0.1:1')


@pytest.mark.slow
def test_ray_runs_a_grid_on_both_raylets_and_retries_a_dead_run(
    ray_cluster, tmp_path, capsys):
  del ray_cluster
  runs = [_run(tmp_path, name) for name in
          ('slow_a', 'slow_b', 'slow_c', 'flaky_d')]
  executors.run_plan(plans.one_stage(runs, 'grid'), 'ray', max_retries=1,
                     status_seconds=0.5)
  assert all(run.done for run in runs)
  assert all(len(_starts(run)) == 1 for run in runs[:3])
  died, retried = _starts(runs[3])  # Killed once, rerun once.
  assert died != retried and retried.endswith("''")  # No GPU reserved.
  assert 'stage grid: done 4, running 0, failed 0, pending 0' in (
      capsys.readouterr().out)
  # Retries exhausted: the failure is reported, the run stays unfinished.
  flaky = _run(tmp_path, 'flaky_e')
  with pytest.raises(SystemExit, match=r'(?s)after 0 retries.*flaky_e'):
    executors.run_plan(plans.one_stage([flaky]), 'ray', max_retries=0)
  assert not flaky.done


RETRAIN = ['make_encoder.network = @DiscreteNetwork',
           'DiscreteNetwork.depths = [4]']


@pytest.mark.slow
def test_ray_runs_a_search_then_the_retraining_of_its_genotype(
    ray_cluster, tmp_path):
  del ray_cluster
  tiny = ('Supernet.depths = [4]', 'Supernet.num_nodes = 2',
          'Environment.num_envs = 2', 'PPOSettings.rollout_length = 8',
          'PPOSettings.minibatch_size = 8', 'PPOSettings.total_env_steps = 16',
          'PPOSettings.eval_every = 0')
  search = run_queue.Run('search', 'ppo', str(tmp_path / 'search'), 0,
                         ('gin_configs/ppo/demo.gin',), tiny)
  genotype = os.path.join(search.root_dir, 'genotype.json')
  retrain = run_queue.Run(
      'retrain', 'ppo', str(tmp_path / 'retrain'), 0,
      ('gin_configs/ppo/demo.gin',),
      (*tiny, *RETRAIN, f"DiscreteNetwork.genotype = '{genotype}'"),
      needs=(genotype,))
  executors.run_plan(plans.Plan((plans.Stage('search', (search,)),
                                 plans.Stage('retrain', (retrain,)))),
                     'ray', status_seconds=5.0)
  assert search.done and retrain.done
  rows = helpers.rows(os.path.join(retrain.root_dir, 'metrics.csv'))
  assert int(rows[-1]['step']) == 16
  assert genotypes.Genotype.load(genotype).normal
  operative = open(os.path.join(retrain.root_dir, 'operative_config.gin')
                   ).read()
  assert 'DiscreteNetwork.genotype' in operative and genotype in operative
  assert not os.path.exists(os.path.join(retrain.root_dir, 'genotype.json'))


@pytest.mark.slow  # Starts a Ray cluster.
def test_a_ray_run_the_cluster_cannot_hold_is_named(ray_cluster, tmp_path):
  """--role=ray asks for its bundles up front: more GPUs or CPUs than the
  cluster has is an error naming both, not a run that waits forever."""
  del ray_cluster
  with pytest.raises(ValueError, match=r'needs 2 GPUs .* the Ray cluster has '
                     r'1; allowed: fewer workers, --learner_gpus=0'):
    ray_roles.RayRun(['true'], str(tmp_path),
                     ray_roles.roles('collect', 'collector', 2, True, 2.0),
                     None)
  with pytest.raises(ValueError, match=r'needs 42 CPUs'):
    ray_roles.RayRun(['true'], str(tmp_path),
                     ray_roles.roles('act', 'actor', 40, False, 0.0), None)
