"""Every config field with its default value: the 28x28 DCGAN of the DCGAN paper on MNIST.

Both backends read the same file, so one config file describes one experiment
in JAX and in PyTorch. Other configs start from this one and change fields.
Any field can be overridden on the command line as `--config.<field>=<value>`.
"""

import ml_collections


def get_config():
  """Return the default experiment config."""
  config = ml_collections.ConfigDict()

  # Model: 'dcgan' (convolutional, 28x28) or 'mlp' (one hidden layer in each
  # network, as in the original GAN paper).
  config.model = 'dcgan'
  config.latent_dim = 100
  # DCGAN channel widths: the generator widens 4x, 2x, then to 1 channel; the
  # discriminator runs 1x, then 2x this value.
  config.generator_features = 64
  config.discriminator_features = 64
  # Normalization after the DCGAN discriminator's second convolution:
  # 'batch_norm', 'layer_norm' (over each sample's channels and pixels, with
  # a scale and bias per channel) or 'none'. The wgan_gp loss needs one
  # that treats samples apart, 'layer_norm' or 'none'.
  config.discriminator_normalization = 'batch_norm'
  # MLP width: both networks have one hidden layer of this many units.
  config.hidden_features = 256

  # Loss: 'non_saturating' is binary cross-entropy on logits with the
  # generator maximizing log D(G(z)); 'minimax' has the generator minimize
  # log(1 - D(G(z))) instead; 'least_squares' (LSGAN), 'hinge' and 'wgan_gp'
  # (Wasserstein critic with gradient penalty) act on the raw discriminator
  # outputs.
  config.loss = 'non_saturating'
  # Target for real images in the cross-entropy losses; 0.9 is one-sided
  # label smoothing. The other losses need 1.0.
  config.real_label = 1.0
  # wgan_gp only: critic updates per generator update, each on its own real
  # batch (the other losses take one), and the weight of the gradient penalty.
  # configs/dcgan_wgan_gp.py sets the paper's 5 critic steps.
  config.critic_steps = 1
  config.gradient_penalty_weight = 10.0

  # Adam for both networks, as in the DCGAN paper.
  config.learning_rate = 2e-4
  config.beta1 = 0.5
  config.beta2 = 0.999

  # Training length: num_steps > 0 caps training by steps instead of epochs.
  # A step is critic_steps discriminator updates and one generator update,
  # each discriminator update on its own batch, so an epoch is
  # floor(60000 / (batch_size * critic_steps)) steps.
  config.batch_size = 64
  config.num_epochs = 5
  config.num_steps = 0
  config.seed = 0

  # Data: a folder laid out like the one `torchvision.datasets.MNIST` and
  # `tensorflow_datasets` leave after a download. The JAX side reads
  # `<data_dir>/tensorflow_datasets` if it exists, else `<data_dir>` itself,
  # as a TFDS data dir; the PyTorch side reads `<data_dir>/MNIST/raw`.
  # Empty: the MNIST_DATA_DIR environment variable if set, else each loader's
  # default (TFDS_DATA_DIR or ~/tensorflow_datasets, and ~/.cache/torchvision).
  config.data_dir = ''
  # Whether a loader may download MNIST when it is not found in data_dir.
  config.download = True

  # Numerics. param_dtype is 'float32' or 'float64'. matmul_precision is
  # 'highest' (full float32 matmuls and convolutions) or 'high' (lets GPUs
  # use TF32 for them).
  config.param_dtype = 'float32'
  config.matmul_precision = 'highest'
  # compute_dtype 'bfloat16' runs both networks' layers in bfloat16 (mixed
  # precision: parameters, optimizer state, normalization statistics and
  # losses stay in param_dtype, which must then be float32): Flax layers with
  # dtype=bfloat16 in JAX, torch.autocast in PyTorch. 'float32' computes in
  # param_dtype.
  config.compute_dtype = 'float32'

  # Outputs: a metrics line every log_every_steps steps, a sample grid of
  # num_samples images from fixed noise at each epoch end.
  config.log_every_steps = 50
  config.num_samples = 64

  # Scoring (gan_common/evaluation.py): at the end of training, and every
  # eval_every_epochs epochs when it is above 0, eval_num_samples generated
  # images are scored against the MNIST test split with the shipped MNIST
  # classifier (FID, KID, classifier score, precision and recall). 0 samples
  # turns scoring off.
  config.eval_num_samples = 10000
  config.eval_every_epochs = 0

  return config
