//! The kernel table: the shader families (one WGSL file each, with its
//! preludes) and every entry point medgpu dispatches ([`KernelId`]).

/// Shared prelude prepended to every family (activation codes and helpers).
pub const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");

/// Prelude of the convolution families (uniform, overrides, bindings, helpers).
pub const CONV_COMMON_WGSL: &str = include_str!("../../shaders/conv_common.wgsl");

/// Prelude of the window families (conv, conv_sg, pool): the geometry as override constants.
pub const WINDOW_COMMON_WGSL: &str = include_str!("../../shaders/window_common.wgsl");

/// Prelude of the matmul families (uniform, overrides, bindings, epilogue).
pub const MATMUL_COMMON_WGSL: &str = include_str!("../../shaders/matmul_common.wgsl");

/// Storage-buffer operands of matmul.wgsl and matmul_sg.wgsl (bindings 1 and 2).
pub const MATMUL_OPERANDS_WGSL: &str = include_str!("../../shaders/matmul_operands.wgsl");

/// Prelude of the subgroup variants (COLS, fma8).
pub const SUBGROUP_COMMON_WGSL: &str = include_str!("../../shaders/subgroup_common.wgsl");

/// Prelude of the subgroup convolution families (conv_sg, conv_sg4): overrides, first row, stores.
pub const CONV_SG_COMMON_WGSL: &str = include_str!("../../shaders/conv_sg_common.wgsl");

/// Prelude of the recurrent families (equations, uniform, bindings, helpers).
pub const RNN_COMMON_WGSL: &str = include_str!("../../shaders/rnn_common.wgsl");

/// Bodies of the persistent recurrences (rnn.wgsl and rnn_sg.wgsl hold their entry points).
pub const RNN_PERSISTENT_WGSL: &str = include_str!("../../shaders/rnn_persistent.wgsl");

/// Prelude of the one-subgroup-per-row recurrences (rnn_lanes and
/// rnn_lanes_gru_elman): overrides, vec4 bindings, lane helpers.
pub const RNN_LANES_COMMON_WGSL: &str = include_str!("../../shaders/rnn_lanes_common.wgsl");

/// A shader file: one family of kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// shaders/matmul.wgsl
    Matmul,
    /// shaders/elementwise.wgsl
    Elementwise,
    /// shaders/reduce.wgsl
    Reduce,
    /// shaders/loss.wgsl
    Loss,
    /// shaders/optim.wgsl
    Optim,
    /// shaders/data.wgsl
    Data,
    /// shaders/dropout.wgsl
    Dropout,
    /// shaders/guard.wgsl
    Guard,
    /// shaders/conv.wgsl
    Conv,
    /// shaders/pool.wgsl
    Pool,
    /// shaders/batchnorm.wgsl
    BatchNorm,
    /// shaders/conv_sg.wgsl (subgroup variants; adapters with SUBGROUP only)
    ConvSg,
    /// shaders/conv_sg4.wgsl (their four-pixel variants, for rows of a multiple of 4)
    ConvSg4,
    /// shaders/rnn.wgsl (persistent: hidden sizes up to 64)
    Rnn,
    /// shaders/rnn_sg.wgsl (subgroup entry points of the persistent
    /// recurrences; adapters with SUBGROUP only)
    RnnSg,
    /// shaders/rnn_step.wgsl (one dispatch per step: larger hidden sizes)
    RnnStep,
    /// shaders/rnn_lanes.wgsl (LSTM with one 8-wide subgroup per batch
    /// row: CPU adapters with SUBGROUP, hidden sizes up to 32)
    RnnLanes,
    /// shaders/rnn_lanes_gru_elman.wgsl (the same for GRU and Elman layers)
    RnnLanesGruElman,
    /// shaders/rnn_grads.wgsl (recurrent weight gradients in one pass: CPU
    /// adapters with SUBGROUP)
    RnnGrads,
    /// shaders/matmul_sg.wgsl (subgroup variants; adapters with SUBGROUP only)
    MatmulSg,
    /// shaders/matmul_tex.wgsl (texture variants; CPU adapters with SUBGROUP)
    MatmulTex,
    /// shaders/matmul_pack.wgsl (packs the operands of the texture variants)
    MatmulPack,
    /// shaders/matmul_tiled.wgsl (workgroup-tiled variants; GPUs)
    MatmulTiled,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 23] = [
        Family::Matmul,
        Family::Elementwise,
        Family::Reduce,
        Family::Loss,
        Family::Optim,
        Family::Data,
        Family::Dropout,
        Family::Guard,
        Family::Conv,
        Family::Pool,
        Family::BatchNorm,
        Family::ConvSg,
        Family::ConvSg4,
        Family::Rnn,
        Family::RnnSg,
        Family::RnnStep,
        Family::RnnLanes,
        Family::RnnLanesGruElman,
        Family::RnnGrads,
        Family::MatmulSg,
        Family::MatmulTex,
        Family::MatmulPack,
        Family::MatmulTiled,
    ];

    /// File name under shaders/.
    pub fn file(self) -> &'static str {
        match self {
            Family::Matmul => "matmul.wgsl",
            Family::Elementwise => "elementwise.wgsl",
            Family::Reduce => "reduce.wgsl",
            Family::Loss => "loss.wgsl",
            Family::Optim => "optim.wgsl",
            Family::Data => "data.wgsl",
            Family::Dropout => "dropout.wgsl",
            Family::Guard => "guard.wgsl",
            Family::Conv => "conv.wgsl",
            Family::Pool => "pool.wgsl",
            Family::BatchNorm => "batchnorm.wgsl",
            Family::ConvSg => "conv_sg.wgsl",
            Family::ConvSg4 => "conv_sg4.wgsl",
            Family::Rnn => "rnn.wgsl",
            Family::RnnSg => "rnn_sg.wgsl",
            Family::RnnStep => "rnn_step.wgsl",
            Family::RnnLanes => "rnn_lanes.wgsl",
            Family::RnnLanesGruElman => "rnn_lanes_gru_elman.wgsl",
            Family::RnnGrads => "rnn_grads.wgsl",
            Family::MatmulSg => "matmul_sg.wgsl",
            Family::MatmulTex => "matmul_tex.wgsl",
            Family::MatmulPack => "matmul_pack.wgsl",
            Family::MatmulTiled => "matmul_tiled.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Family::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Family::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Family::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Family::Loss => include_str!("../../shaders/loss.wgsl"),
            Family::Optim => include_str!("../../shaders/optim.wgsl"),
            Family::Data => include_str!("../../shaders/data.wgsl"),
            Family::Dropout => include_str!("../../shaders/dropout.wgsl"),
            Family::Guard => include_str!("../../shaders/guard.wgsl"),
            Family::Conv => include_str!("../../shaders/conv.wgsl"),
            Family::Pool => include_str!("../../shaders/pool.wgsl"),
            Family::BatchNorm => include_str!("../../shaders/batchnorm.wgsl"),
            Family::ConvSg => include_str!("../../shaders/conv_sg.wgsl"),
            Family::ConvSg4 => include_str!("../../shaders/conv_sg4.wgsl"),
            Family::Rnn => include_str!("../../shaders/rnn.wgsl"),
            Family::RnnSg => include_str!("../../shaders/rnn_sg.wgsl"),
            Family::RnnStep => include_str!("../../shaders/rnn_step.wgsl"),
            Family::RnnLanes => include_str!("../../shaders/rnn_lanes.wgsl"),
            Family::RnnLanesGruElman => include_str!("../../shaders/rnn_lanes_gru_elman.wgsl"),
            Family::RnnGrads => include_str!("../../shaders/rnn_grads.wgsl"),
            Family::MatmulSg => include_str!("../../shaders/matmul_sg.wgsl"),
            Family::MatmulTex => include_str!("../../shaders/matmul_tex.wgsl"),
            Family::MatmulPack => include_str!("../../shaders/matmul_pack.wgsl"),
            Family::MatmulTiled => include_str!("../../shaders/matmul_tiled.wgsl"),
        }
    }

    /// The full WGSL source: the common prelude, the family's own
    /// preludes (convolution, matmul, recurrence, subgroup), then its file.
    pub fn source(self) -> String {
        let preludes: &[&str] = match self {
            Family::Conv => &[WINDOW_COMMON_WGSL, CONV_COMMON_WGSL],
            Family::ConvSg | Family::ConvSg4 => {
                &[WINDOW_COMMON_WGSL, CONV_COMMON_WGSL, SUBGROUP_COMMON_WGSL, CONV_SG_COMMON_WGSL]
            }
            Family::Pool => &[WINDOW_COMMON_WGSL],
            Family::Matmul | Family::MatmulTiled => &[MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL],
            Family::MatmulSg => &[MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL, SUBGROUP_COMMON_WGSL],
            Family::MatmulTex | Family::MatmulPack => &[MATMUL_COMMON_WGSL],
            Family::Rnn | Family::RnnSg => &[RNN_COMMON_WGSL, RNN_PERSISTENT_WGSL],
            Family::RnnStep => &[RNN_COMMON_WGSL],
            Family::RnnLanes | Family::RnnLanesGruElman => &[RNN_COMMON_WGSL, RNN_LANES_COMMON_WGSL],
            _ => &[],
        };
        format!("{COMMON_WGSL}\n{}\n{}", preludes.join("\n"), self.body())
    }
}

macro_rules! kernel_table {
    ($($variant:ident => $family:ident, $entry:literal;)*) => {
        /// One WGSL compute entry point.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum KernelId {
            $(
                #[doc = concat!("`", $entry, "` in the ", stringify!($family), " family.")]
                $variant,
            )*
        }

        impl KernelId {
            /// Every kernel.
            pub const ALL: &'static [KernelId] = &[$(KernelId::$variant),*];

            /// The shader file it lives in.
            pub fn family(self) -> Family {
                match self { $(KernelId::$variant => Family::$family),* }
            }

            /// The WGSL entry point name.
            pub fn entry_point(self) -> &'static str {
                match self { $(KernelId::$variant => $entry),* }
            }
        }
    };
}

kernel_table! {
    MatmulNn => Matmul, "matmul_nn";
    MatmulNt => Matmul, "matmul_nt";
    MatmulTn => Matmul, "matmul_tn";
    MatmulNnSg => MatmulSg, "matmul_nn_sg";
    MatmulNtSg => MatmulSg, "matmul_nt_sg";
    MatmulTnSg => MatmulSg, "matmul_tn_sg";
    MatmulTnRows4 => MatmulSg, "matmul_tn_rows4";
    MatmulNnTex => MatmulTex, "matmul_nn_tex";
    MatmulNtTex => MatmulTex, "matmul_nt_tex";
    MatmulTnTex => MatmulTex, "matmul_tn_tex";
    MatmulNnTiled => MatmulTiled, "matmul_nn_tiled";
    MatmulNtTiled => MatmulTiled, "matmul_nt_tiled";
    MatmulTnTiled => MatmulTiled, "matmul_tn_tiled";
    MatmulPackRows => MatmulPack, "matmul_pack_rows";
    MatmulPackCols => MatmulPack, "matmul_pack_cols";
    ActivationForward => Elementwise, "activation_forward";
    ActivationBackward => Elementwise, "activation_backward";
    AddInto => Elementwise, "add_into";
    SoftmaxForward => Reduce, "softmax_forward";
    SoftmaxBackward => Reduce, "softmax_backward";
    GradNormPartial => Guard, "grad_norm_partial";
    GradGuard => Guard, "grad_guard";
    MseLoss => Loss, "mse_loss";
    BceWithLogitsLoss => Loss, "bce_with_logits_loss";
    SoftmaxCrossEntropyLoss => Loss, "softmax_cross_entropy_loss";
    SgdStep => Optim, "sgd_step";
    AdamStep => Optim, "adam_step";
    SgdStepFused => Optim, "sgd_step_fused";
    AdamStepFused => Optim, "adam_step_fused";
    GatherRows => Data, "gather_rows";
    DropoutForward => Dropout, "dropout_forward";
    DropoutBackward => Dropout, "dropout_backward";
    Conv2dForward => Conv, "conv2d_forward";
    Conv2dBackwardInput => Conv, "conv2d_backward_input";
    Conv2dBackwardWeight => Conv, "conv2d_backward_weight";
    Conv2dForwardSg => ConvSg, "conv2d_forward_sg";
    Conv2dBackwardInputSg => ConvSg, "conv2d_backward_input_sg";
    Conv2dBackwardWeightSg => ConvSg, "conv2d_backward_weight_sg";
    Conv2dBackwardWeightSg4 => ConvSg4, "conv2d_backward_weight_sg4";
    Conv2dForwardSg4 => ConvSg4, "conv2d_forward_sg4";
    Conv2dBackwardInputSg4 => ConvSg4, "conv2d_backward_input_sg4";
    Conv2dBackwardWeightKx3 => ConvSg4, "conv2d_backward_weight_kx3";
    LstmForward => Rnn, "lstm_forward";
    LstmBackward => Rnn, "lstm_backward";
    GruForward => Rnn, "gru_forward";
    GruBackward => Rnn, "gru_backward";
    ElmanForward => Rnn, "elman_forward";
    ElmanBackward => Rnn, "elman_backward";
    LstmForwardSg => RnnSg, "lstm_forward_sg";
    LstmBackwardSg => RnnSg, "lstm_backward_sg";
    GruForwardSg => RnnSg, "gru_forward_sg";
    GruBackwardSg => RnnSg, "gru_backward_sg";
    ElmanForwardSg => RnnSg, "elman_forward_sg";
    ElmanBackwardSg => RnnSg, "elman_backward_sg";
    LstmForwardLanes => RnnLanes, "lstm_forward_lanes";
    LstmBackwardLanes => RnnLanes, "lstm_backward_lanes";
    LstmBackwardGradsLanes => RnnLanes, "lstm_backward_grads_lanes";
    GruForwardLanes => RnnLanesGruElman, "gru_forward_lanes";
    GruBackwardLanes => RnnLanesGruElman, "gru_backward_lanes";
    ElmanForwardLanes => RnnLanesGruElman, "elman_forward_lanes";
    ElmanBackwardLanes => RnnLanesGruElman, "elman_backward_lanes";
    RnnGradsPartial => RnnGrads, "rnn_grads_partial";
    RnnGradsReduce => RnnGrads, "rnn_grads_reduce";
    LstmStepForward => RnnStep, "lstm_step_forward";
    LstmStepBackward => RnnStep, "lstm_step_backward";
    GruStepForward => RnnStep, "gru_step_forward";
    GruStepBackward => RnnStep, "gru_step_backward";
    ElmanStepForward => RnnStep, "elman_step_forward";
    ElmanStepBackward => RnnStep, "elman_step_backward";
    MaxpoolForward => Pool, "maxpool_forward";
    MaxpoolBackward => Pool, "maxpool_backward";
    MaxpoolForwardV4 => Pool, "maxpool_forward_v4";
    MaxpoolBackwardV4 => Pool, "maxpool_backward_v4";
    MaxpoolForwardV8 => Pool, "maxpool_forward_v8";
    MaxpoolBackwardV8 => Pool, "maxpool_backward_v8";
    AvgpoolForward => Pool, "avgpool_forward";
    AvgpoolBackward => Pool, "avgpool_backward";
    UpsampleForward => Pool, "upsample_forward";
    UpsampleBackward => Pool, "upsample_backward";
    BatchnormForwardTrain => BatchNorm, "batchnorm_forward_train";
    BatchnormForwardEval => BatchNorm, "batchnorm_forward_eval";
    BatchnormBackward => BatchNorm, "batchnorm_backward";
}
